package tether_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/client"
)

func ExampleNewServer() {
	srv := tether.NewServer(&tether.Options{
		// Runs on every upgrade, new session or resume.
		Authenticate: func(r *http.Request) (string, error) {
			if r.Header.Get("Authorization") != "Bearer secret" {
				return "", errors.New("bad credentials") // close code 4401
			}
			return "alice", nil
		},
		// Hooks run one at a time per session, in order.
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			fmt.Println("open:", s.UserID())
		},
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			// Send queues: the message is replayed if the client resumes.
			if err := s.Send(ctx, m.Type, m.Data); err != nil {
				log.Print(err)
			}
			return nil
		},
		OnClose: func(ctx context.Context, s *tether.Session, c tether.Closure) {
			switch c.Cause {
			case tether.CauseClientClosed:
				fmt.Println("close: the client left")
			case tether.CauseExpired:
				fmt.Println("close: the client never came back")
			default:
				fmt.Println("close:", c.Cause)
			}
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	hs := httptest.NewServer(mux) // in production: http.ListenAndServe(addr, mux)
	defer hs.Close()

	// A client, to show the hooks at work.
	ctx := context.Background()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	echo := make(chan string, 1)
	c, err := client.Dial(ctx, url, &client.Options{
		Header:    http.Header{"Authorization": {"Bearer secret"}},
		OnMessage: func(m tether.Message) { echo <- string(m.Data) },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Send(ctx, tether.Text, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo:", <-echo)
	if err := c.Close(ctx); err != nil {
		log.Fatal(err)
	}

	// Shutdown drains every session and waits for the hooks.
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// open: alice
	// echo: hello
	// close: the client left
}
