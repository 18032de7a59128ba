package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func ExampleDial() {
	// An echo server to talk to.
	srv := tether.NewServer(&tether.Options{
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			return s.Send(ctx, m.Type, m.Data)
		},
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())

	ctx := context.Background()
	echoes := make(chan tether.Message, 1)
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &client.Options{
		// Called in order, one at a time; the server is acknowledged
		// when it returns.
		OnMessage: func(m tether.Message) { echoes <- m },
		OnEvent: func(e client.Event) {
			if d, ok := e.(client.Disconnected); ok && d.Cause != tether.CauseClientClosed {
				log.Printf("disconnected (%v), reconnecting", d.Cause)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Send queues the message: it is delivered exactly once, even if the
	// connection drops meanwhile.
	if err := c.Send(ctx, tether.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	m := <-echoes
	fmt.Printf("%s (seq %d)\n", m.Data, m.Seq)

	// Close waits until the server has acknowledged everything sent.
	if err := c.Close(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: hello (seq 1)
}

// The README's client snippet (TestDocSnippets keeps them the same).
func Example_readme() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://localhost:8080/ws", &client.Options{
		OnMessage: func(m tether.Message) { fmt.Printf("%s\n", m.Data) },
		OnEvent:   func(e client.Event) { log.Printf("%T %+v", e, e) },
	})
	if err != nil {
		log.Fatal(err)
	}
	c.Send(ctx, tether.Text, []byte("hello")) // delivered exactly once, across reconnects
}
