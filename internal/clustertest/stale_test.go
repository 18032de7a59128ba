package clustertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// peer is a scripted client connection to one node.
type peer struct {
	t  *testing.T
	ws *ws.Conn
}

func dialPeer(t *testing.T, url string, h *wire.Hello) (*peer, *wire.Welcome, uint16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := gobwas.Dialer{Protocols: []string{wire.Subprotocol}}.Dial(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var pre []byte
	if br != nil {
		p, _ := br.Peek(br.Buffered())
		pre = append(pre, p...)
		gobwas.PutReader(br)
	}
	p := &peer{t: t, ws: ws.NewConn(nc, true, 1<<20, pre)}
	t.Cleanup(func() { p.ws.Close(); p.ws.Drop() })
	p.send(wire.AppendHello(nil, h))
	for {
		f, err := p.next(5 * time.Second)
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			return p, nil, ce.Code
		}
		if err != nil {
			t.Fatalf("waiting for the welcome: %v", err)
		}
		if f.Type == wire.TypeWelcome {
			return p, f.Welcome, 0
		}
	}
}

func (p *peer) send(frame []byte) {
	p.t.Helper()
	if err := p.ws.Write(p.ws.AppendFrame(nil, ws.OpBinary, frame, nil), time.Second); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

var errStop = errors.New("stop")

func (p *peer) next(d time.Duration) (wire.Frame, error) {
	_ = p.ws.NetConn().SetReadDeadline(time.Now().Add(d))
	var f wire.Frame
	err := p.ws.ReadMessage(func(op byte, b []byte) error {
		var err error
		f, err = wire.Decode(append([]byte(nil), b...))
		if err != nil {
			return err
		}
		return errStop
	})
	if errors.Is(err, errStop) {
		return f, nil
	}
	return f, err
}

func nodeURL(nd *node) string { return "ws" + strings.TrimPrefix(nd.http.URL, "http") }

// TestStaleAttemptOnAnotherNode: a connection attempt the client gave up
// on, arriving late at another node while a newer attempt holds the
// session, is refused with 4007 and takes nothing: the newer connection
// keeps working (§4.1, attempt).
func TestStaleAttemptOnAnotherNode(t *testing.T) {
	c := startCluster(t, 2, nil)
	_, w, code := dialPeer(t, nodeURL(c.nodes[0]), &wire.Hello{Attempt: 100})
	if code != 0 {
		t.Fatalf("first connection closed with %d", code)
	}
	// The client's attempt 300 resumes on node 0...
	newer, w2, code := dialPeer(t, nodeURL(c.nodes[0]), &wire.Hello{SessionID: w.SessionID, Token: w.Token, Epoch: w.Epoch, Attempt: 300})
	if code != 0 || !w2.Resumed() {
		t.Fatalf("attempt 300: close %d, welcome %+v", code, w2)
	}
	// ...while its abandoned attempt 200 reaches node 1 late.
	if _, _, code := dialPeer(t, nodeURL(c.nodes[1]), &wire.Hello{SessionID: w.SessionID, Token: w.Token, Epoch: w.Epoch, Attempt: 200}); code != uint16(wire.CloseSuperseded) {
		t.Fatalf("late attempt 200 on the other node: close %d, want 4007", code)
	}
	newer.send(wire.AppendSeqFrame(nil, wire.TypeAck, 0))
	newer.send(append(wire.AppendMessageHeader(nil, true, 1), "still here"...))
	waitUntil(t, 5*time.Second, "the message on the newer connection", func() bool {
		return len(c.rec.messages(w.SessionID)) == 1
	})
	for {
		f, err := newer.next(time.Second)
		if err != nil {
			t.Fatalf("the newer connection: %v", err)
		}
		if f.Type == wire.TypeAck && f.Seq == 1 {
			break
		}
	}
}
