//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// netpoll's pollers and gnet's goroutine pool (ants) are
	// package-global and never stop.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/cloudwego/netpoll.(*defaultPoll).Wait"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreAnyFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

func clientFrame(op gobwas.OpCode, payload string) []byte {
	var buf bytes.Buffer
	f := gobwas.NewFrame(op, true, []byte(payload))
	f = gobwas.MaskFrameInPlace(f)
	if err := gobwas.WriteFrame(&buf, f); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Every split of a stream of frames gives the same replies, and nothing
// is held once the last byte has arrived.
func TestConsumeAnySplit(t *testing.T) {
	long := strings.Repeat("x", 300) // 16-bit length
	var stream []byte
	stream = append(stream, clientFrame(gobwas.OpText, "hello")...)
	stream = append(stream, clientFrame(gobwas.OpPing, "p")...)
	stream = append(stream, clientFrame(gobwas.OpText, long)...)
	want := string(serverFrame(opText, []byte("hello"))) + string(serverFrame(opPong, []byte("p"))) + string(serverFrame(opText, []byte(long)))
	for cut := 0; cut <= len(stream); cut++ {
		in := append([]byte(nil), stream...)
		var out []byte
		send := func(f []byte) error { out = append(out, f...); return nil }
		partial, err := consume(nil, in[:cut], send)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		partial, err = consume(partial, in[cut:], send)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if partial != nil {
			t.Fatalf("cut %d: %d bytes still held", cut, len(partial))
		}
		if string(out) != want {
			t.Fatalf("cut %d: replies differ", cut)
		}
	}
}

func TestConsumeRejectsUnmasked(t *testing.T) {
	if _, err := consume(nil, serverFrame(opText, []byte("x")), func([]byte) error { return nil }); !errors.Is(err, errUnmasked) {
		t.Fatalf("err = %v, want errUnmasked", err)
	}
}

// net/http terminates TLS: the hijacked connection is a *tls.Conn, with
// no descriptor a poller could use; such a connection must stay on the
// portable path.
func TestTLSHijackHasNoFD(t *testing.T) {
	got := make(chan error, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			got <- err
			return
		}
		_, derr := detachFD(nc)
		if _, isTLS := nc.(*tls.Conn); !isTLS {
			derr = errors.New("hijacked conn is not a *tls.Conn")
		}
		nc.Close()
		got <- derr
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err == nil {
		resp.Body.Close()
	}
	if err := <-got; !errors.Is(err, errNoFD) {
		t.Fatalf("detachFD on a TLS connection: %v, want errNoFD", err)
	}
}

// Each prototype echoes, answers a frame split across two writes, and
// broadcasts.
func TestBackendsEcho(t *testing.T) {
	for _, name := range []string{"raw", "epoll", "nbio", "gnet", "netpoll"} {
		t.Run(name, func(t *testing.T) {
			be, err := newBackend(name, 1)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(be)
			defer srv.Close()
			defer be.close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, _, _, err := gobwas.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			f := clientFrame(gobwas.OpText, "split frame")
			if _, err := conn.Write(f[:3]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // let the server see the first part alone
			if _, err := conn.Write(f[3:]); err != nil {
				t.Fatal(err)
			}
			msg, err := wsutil.ReadServerText(conn)
			if err != nil || string(msg) != "split frame" {
				t.Fatalf("echo = %q, %v", msg, err)
			}
			for be.count() != 1 {
				time.Sleep(time.Millisecond)
			}
			for _, p := range be.peers() {
				if err := p.write(serverFrame(opText, []byte("to all"))); err != nil {
					t.Fatal(err)
				}
			}
			msg, err = wsutil.ReadServerText(conn)
			if err != nil || string(msg) != "to all" {
				t.Fatalf("broadcast = %q, %v", msg, err)
			}
			conn.Close()
			for be.count() != 0 {
				time.Sleep(time.Millisecond)
			}
		})
	}
}
