package tether_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

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

// A room keeps what is published to it, members or not: a client that
// comes back after losing its session gets what it missed, and anyone in
// the room can page through its history.
func ExampleServer_Broadcast() {
	srv := tether.NewServer(&tether.Options{
		RoomHistory: tether.HistoryLimits{MaxMessages: 100, MaxAge: time.Hour},
		// A client that lost its session presents its place in each room;
		// joining it again (as the first time) replays what it missed.
		OnOpen: func(ctx context.Context, s *tether.Session, info tether.OpenInfo) {
			_ = s.Join(ctx, "news")
		},
		OnRoomRecovery: func(ctx context.Context, s *tether.Session, r tether.RoomRecovery) {
			log.Printf("%s: %d recovered, %d lost (%s)", r.Room, r.Recovered, r.Lost, r.Reason)
		},
	})
	defer srv.Shutdown(context.Background())
	ctx := context.Background()
	for _, s := range []string{"first", "second", "third"} {
		pub, err := srv.Broadcast(ctx, "news", tether.Text, []byte(s))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: offset %d, %d members\n", s, pub.Offset, pub.Members)
	}
	page, err := srv.History(ctx, "news", 1, 10) // after offset 1
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range page.Messages {
		fmt.Printf("history: %d %s\n", m.Offset, m.Data)
	}
	// Output:
	// first: offset 1, 0 members
	// second: offset 2, 0 members
	// third: offset 3, 0 members
	// history: 2 second
	// history: 3 third
}

// The README's first snippet (TestDocSnippets keeps them the same): a
// server that echoes, mounted on net/http.
func Example_embed() {
	srv := tether.NewServer(&tether.Options{
		OnMessage: func(ctx context.Context, s *tether.Session, m tether.Message) error {
			return s.Send(ctx, m.Type, m.Data) // echo; queued for replay if the client is away
		},
		OnClose: func(ctx context.Context, s *tether.Session, c tether.Closure) {
			log.Printf("session %s over: %s, %d unacknowledged", s.ID(), c.Cause, c.Unacked)
		},
	})
	http.Handle("/ws", srv)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
