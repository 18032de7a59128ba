package tether_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	gobwas "github.com/gobwas/ws"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// rawConn speaks the wire protocol by hand, to send what a good client never would.
type rawConn struct {
	t  testing.TB
	ws *ws.Conn
}

func rawDial(t testing.TB, url string, header http.Header) (*rawConn, error) {
	return rawDialProto(t, url, header, []string{wire.Subprotocol})
}

func rawDialProto(t testing.TB, url string, header http.Header, protocols []string) (*rawConn, error) {
	t.Helper()
	d := gobwas.Dialer{Protocols: protocols}
	if header != nil {
		d.Header = gobwas.HandshakeHeaderHTTP(header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, err
	}
	var pre []byte
	if br != nil {
		p, _ := br.Peek(br.Buffered())
		pre = append(pre, p...)
		gobwas.PutReader(br)
	}
	rc := &rawConn{t: t, ws: ws.NewConn(nc, true, 1<<20, pre)}
	t.Cleanup(func() { rc.ws.Close(); rc.ws.Drop() })
	return rc, nil
}

func (rc *rawConn) send(frame []byte) {
	rc.t.Helper()
	if err := rc.ws.Write(rc.ws.AppendFrame(nil, ws.OpBinary, frame, nil), time.Second); err != nil {
		rc.t.Fatalf("raw send: %v", err)
	}
}

func (rc *rawConn) sendText(p []byte) {
	rc.t.Helper()
	if err := rc.ws.Write(rc.ws.AppendFrame(nil, ws.OpText, p, nil), time.Second); err != nil {
		rc.t.Fatalf("raw send: %v", err)
	}
}

// next returns the next Tether frame, or the close error.
func (rc *rawConn) next(d time.Duration) (wire.Frame, error) {
	_ = rc.ws.NetConn().SetReadDeadline(time.Now().Add(d))
	var f wire.Frame
	err := rc.ws.ReadMessage(func(op byte, p []byte) error {
		var err error
		f, err = wire.Decode(append([]byte(nil), p...))
		if err != nil {
			return err
		}
		return errStopRaw
	})
	if errors.Is(err, errStopRaw) {
		return f, nil
	}
	return f, err
}

var errStopRaw = errors.New("stop")

// hello sends a Hello and returns the Welcome.
func (rc *rawConn) hello(h *wire.Hello) *wire.Welcome {
	rc.t.Helper()
	rc.send(wire.AppendHello(nil, h))
	for {
		f, err := rc.next(5 * time.Second)
		if err != nil {
			rc.t.Fatalf("waiting for welcome: %v", err)
		}
		if f.Type == wire.TypeWelcome {
			return f.Welcome
		}
	}
}

// closed waits for the server's close frame and returns its code.
func (rc *rawConn) closed(d time.Duration) (uint16, string) {
	rc.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, err := rc.next(time.Until(deadline))
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		if err != nil {
			rc.t.Fatalf("expected a close frame, got %v", err)
		}
	}
	rc.t.Fatalf("no close frame within %v", d)
	return 0, ""
}

func closeCodeOf(err error) (uint16, string) {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		return ce.Code, ce.Reason
	}
	return 0, ""
}
