package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gobwas "github.com/gobwas/ws"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// maxRead bounds a server message before the Welcome gives the real limit.
const maxRead = 16 << 20

// maxBatch bounds the payload bytes written in one system call.
const maxBatch = 32 << 10

// ackLater arranges for the ack of processed messages, n more payload
// bytes of them, by the rules of internal/link; c.mu held.
func (cc *cconn) ackLater(processed uint64, n int) {
	p := cc.st.AckPolicy(cc.c.o.AckDelay)
	switch cc.st.Acks.Processed(p, processed, n) {
	case link.Write:
		cc.wake()
	case link.Arm:
		if cc.ackT == nil {
			cc.ackT = time.AfterFunc(p.Delay, func() {
				cc.c.mu.Lock()
				woke := cc.st.Acks.Due()
				cc.c.mu.Unlock()
				if woke {
					cc.wake()
				}
			})
		} else {
			cc.ackT.Reset(p.Delay)
		}
	}
}

// terminalError is a refusal that retrying cannot fix.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// cconn is one connection under the client's session. It has a reader
// and a writer goroutine; its mutable fields are guarded by Client.mu.
type cconn struct {
	c        *Client
	ws       *ws.Conn
	gen      uint64
	lastRecv atomic.Int64
	wakeCh   chan struct{}
	stopCh   chan struct{}
	endCh    chan result
	wg       sync.WaitGroup

	// What this connection writes, by the rules the server's connection
	// follows (internal/link): the client's numbered messages that exist
	// and those written, the acks owed to the server, a Pong due (its
	// Ping), sealed once the server said GoAway.
	st      link.Conn
	ackT    *time.Timer // runs when st.Acks asks for it (link.Arm)
	confirm bool        // send an ack at once: it proves the Welcome arrived
	rooms   bool        // the session speaks room streams (set before the reader starts)
}

type result struct {
	cause     tether.Cause
	code      tether.CloseCode
	err       error
	reconnect bool
	immediate bool
	quit      bool
}

func (cc *cconn) wake() {
	select {
	case cc.wakeCh <- struct{}{}:
	default:
	}
}

// connect dials, says Hello and reads the Welcome.
func (c *Client) connect() (*cconn, *wire.Welcome, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.o.DialTimeout)
	defer cancel()
	nc, pre, err := c.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	wc, welcome, err := c.greet(ctx, nc, pre)
	if err != nil {
		return nil, nil, err
	}
	// A ForceReconnect asked for while no connection was up is done:
	// this is the new connection.
	select {
	case <-c.force:
	default:
	}
	cc := &cconn{c: c, ws: wc, wakeCh: make(chan struct{}, 1), stopCh: make(chan struct{}), endCh: make(chan result, 1), confirm: true,
		rooms: welcome.Features&wire.FeatureRooms != 0}
	cc.lastRecv.Store(time.Now().UnixNano())
	return cc, welcome, nil
}

// dial opens the WebSocket: the HTTP upgrade with the options' headers.
// It returns the connection and the bytes read past the handshake; a
// refusal that retrying cannot change is a *terminalError.
func (c *Client) dial(ctx context.Context) (net.Conn, []byte, error) {
	var status int
	var body string
	d := gobwas.Dialer{
		Protocols: []string{wire.Subprotocol},
		NetDial:   c.o.NetDial,
		TLSConfig: c.o.TLSConfig,
		OnStatusError: func(st int, reason []byte, resp io.Reader) {
			status = st
			var b [256]byte
			n, _ := resp.Read(b[:])
			body = strings.TrimSpace(string(b[:n]))
		},
	}
	hdr := c.o.Header
	if c.o.HeaderFunc != nil {
		extra, err := c.o.HeaderFunc(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to get headers: %w", err)
		}
		hdr = hdr.Clone()
		if hdr == nil {
			hdr = make(http.Header)
		}
		for k, v := range extra {
			hdr[k] = v
		}
	}
	if hdr != nil {
		d.Header = gobwas.HandshakeHeaderHTTP(hdr)
	}
	nc, br, hs, err := d.Dial(ctx, c.url)
	if err != nil {
		if status != 0 {
			err = fmt.Errorf("failed to connect: HTTP %d: %s", status, body)
			if status >= 400 && status < 500 && status != 408 && status != 429 {
				return nil, nil, &terminalError{fmt.Errorf("%w: %w", httpRefusal(status), err)}
			}
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("failed to connect: %w", err)
	}
	var pre []byte
	if br != nil {
		if n := br.Buffered(); n > 0 {
			p, _ := br.Peek(n)
			pre = append(pre, p...)
		}
		gobwas.PutReader(br)
	}
	if hs.Protocol != wire.Subprotocol {
		nc.Close()
		return nil, nil, &terminalError{fmt.Errorf("%w: the server does not speak %s", ErrRefused, wire.Subprotocol)}
	}
	return nc, pre, nil
}

// greet sends the Hello on a new connection and reads the server's
// Welcome, within ctx; a close frame instead is the server's refusal.
func (c *Client) greet(ctx context.Context, nc net.Conn, pre []byte) (*ws.Conn, *wire.Welcome, error) {
	wc := ws.NewConn(nc, true, maxRead, pre)
	c.mu.Lock()
	// Every attempt is stamped later than the last, so a server can tell
	// an attempt that arrives after a newer one and refuse it.
	c.attempt = max(c.attempt+1, uint64(time.Now().UnixMilli()))
	h := &wire.Hello{SessionID: c.sessionID, Token: c.token, Epoch: c.epoch, Recv: c.counts.In(),
		Acked: c.counts.LastAcked(), Written: c.written, Last: c.counts.Out(), Window: uint64(c.o.MaxOutbox), Attempt: c.attempt,
		Features: wire.FeatureRooms, Rooms: c.helloRooms()}
	c.mu.Unlock()
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := wc.Write(wc.AppendFrame(nil, ws.OpBinary, wire.AppendHello(nil, h), nil), 0); err != nil {
		wc.Close()
		return nil, nil, fmt.Errorf("failed to send hello: %w", err)
	}
	var welcome *wire.Welcome
	err := wc.ReadMessage(func(op byte, p []byte) error {
		if op != ws.OpBinary {
			return &violation{"text WebSocket frame"}
		}
		f, err := wire.Decode(p)
		if err != nil {
			return err
		}
		if f.Type != wire.TypeWelcome {
			return fmt.Errorf("expected welcome, got %s", f.Type)
		}
		welcome = f.Welcome
		return errStop
	})
	if !errors.Is(err, errStop) {
		wc.Close()
		wc.Drop()
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			cerr := &tether.CloseError{Code: tether.CloseCode(ce.Code), Reason: ce.Reason}
			if !cerr.Code.Reconnect() {
				return nil, nil, &terminalError{fmt.Errorf("server refused: %w: %w", refusal(cerr.Code), cerr)}
			}
			return nil, nil, fmt.Errorf("server refused: %w", cerr)
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("failed to read welcome: %w", ctx.Err())
		}
		return nil, nil, fmt.Errorf("failed to read welcome: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	return wc, welcome, nil
}

var errStop = errors.New("stop")

// serve runs a connection until it ends and says what to do next.
func (c *Client) serve(cc *cconn) result {
	cc.wg.Add(2)
	go func() { defer cc.wg.Done(); cc.readLoop() }()
	go func() { defer cc.wg.Done(); cc.writeLoop() }()
	cc.wake()
	c.mu.Lock()
	limit := c.hbLimit
	c.mu.Unlock()
	if limit <= 0 {
		limit = 25 * time.Second
	}
	live := link.Liveness{Every: limit, Limit: limit} // the server pings; we only watch
	watchdog := time.NewTimer(limit)
	defer watchdog.Stop()
	var r result
	for {
		select {
		case r = <-cc.endCh:
		case <-watchdog.C:
			last := time.Unix(0, cc.lastRecv.Load())
			if dead, next := live.Check(last, time.Now(), func() bool { return cc.ws.Unread() > 0 }); !dead {
				watchdog.Reset(next)
				continue
			}
			since := time.Since(last)
			cc.ws.Shutdown(uint16(wire.CloseDetach), "heartbeat timeout", 0)
			cc.ws.Close()
			<-cc.endCh
			r = result{cause: tether.CauseHeartbeatTimeout, err: fmt.Errorf("nothing from the server for %v", since.Round(time.Millisecond)), reconnect: true}
		case <-c.force:
			cc.ws.Shutdown(uint16(wire.CloseDetach), "reconnecting", time.Second)
			<-cc.endCh
			r = result{cause: tether.CauseClientDetached, err: errors.New("ForceReconnect"), reconnect: true, immediate: true}
		case <-c.quit:
			cc.ws.Shutdown(uint16(wire.CloseNormal), "client closed", time.Second)
			<-cc.endCh
			r = result{cause: tether.CauseClientClosed, quit: true}
		}
		break
	}
	close(cc.stopCh)
	cc.wg.Wait()
	c.mu.Lock()
	if cc.ackT != nil {
		cc.ackT.Stop()
	}
	c.mu.Unlock()
	c.mu.Lock()
	if c.cc == cc {
		c.cc = nil
	}
	c.mu.Unlock()
	return r
}

func (cc *cconn) readLoop() {
	err := cc.ws.ReadMessage(cc.onFrame)
	r := result{cause: tether.CauseNetworkLost, err: err, reconnect: true}
	var ce *ws.CloseError
	var pe *ws.ProtocolError
	switch {
	case errors.As(err, &ce):
		code := tether.CloseCode(ce.Code)
		r.code = code
		r.err = &tether.CloseError{Code: code, Reason: ce.Reason}
		r.reconnect = code.Reconnect()
		r.cause = causeOf(code)
	case errors.As(err, &pe), errors.Is(err, wire.ErrMalformed), errors.As(err, new(*violation)), errors.Is(err, ws.ErrTooBig):
		// The server broke the protocol: detach with the reason (the
		// session stays) and reconnect; sequence numbers re-synchronise.
		r.cause = tether.CauseProtocolViolation
		reason := err.Error()
		if len(reason) > 120 {
			reason = reason[:120]
		}
		cc.ws.Shutdown(uint16(wire.CloseDetach), reason, time.Second)
		cc.ws.Discard()
	}
	cc.ws.Close()
	cc.ws.Drop()
	cc.endCh <- r
}

func causeOf(code tether.CloseCode) tether.Cause {
	switch code {
	case tether.CloseServerRestart:
		return tether.CauseServerRestart
	case tether.CloseHeartbeatTimeout:
		return tether.CauseHeartbeatTimeout
	case tether.CloseOverflow:
		return tether.CauseOverflow
	case tether.CloseServerError:
		return tether.CauseServerError
	case tether.CloseProtocolViolation, tether.CloseUnsupported:
		return tether.CauseProtocolViolation
	case tether.CloseUnauthorized, tether.CloseForbidden:
		return tether.CauseUnauthorized
	case tether.CloseReplaced, tether.CloseSuperseded:
		return tether.CauseReplaced
	case tether.CloseKicked:
		return tether.CauseKicked
	case tether.CloseRateLimited:
		return tether.CauseRateLimited
	case tether.CloseTooBig, tether.ClosePolicy:
		return tether.CausePolicyViolation
	case tether.CloseNormal:
		return tether.CauseServerShutdown
	}
	return tether.CauseNetworkLost
}

type violation struct{ msg string }

func (v *violation) Error() string { return "server broke the protocol: " + v.msg }

func (cc *cconn) onFrame(op byte, p []byte) error {
	if op != ws.OpBinary {
		return &violation{"text WebSocket frame"}
	}
	cc.lastRecv.Store(time.Now().UnixNano())
	f, err := wire.Decode(p)
	if err != nil {
		return err
	}
	c := cc.c
	switch f.Type {
	case wire.TypeBinary, wire.TypeText:
		typ := tether.Binary
		if f.Type == wire.TypeText {
			typ = tether.Text
			if !utf8.Valid(f.Payload) {
				return &violation{fmt.Sprintf("text message %d is not UTF-8", f.Seq)}
			}
		}
		c.mu.Lock()
		ok, err := c.acceptSeq(f.Seq)
		gen := c.gen
		c.mu.Unlock()
		if !ok {
			return err
		}
		c.disp.push(item{msg: tether.Message{Type: typ, Data: append([]byte(nil), f.Payload...), Seq: f.Seq}, gen: gen})
	case wire.TypeRoomBinary, wire.TypeRoomText:
		if !cc.rooms {
			return &violation{fmt.Sprintf("%s frame without the rooms feature", f.Type)}
		}
		return c.onRoomMessage(&f)
	case wire.TypeRoomEvent:
		if !cc.rooms {
			return &violation{"room event without the rooms feature"}
		}
		return c.onRoomEvent(&f)
	case wire.TypeHistoryResult:
		if !cc.rooms {
			return &violation{"history result without the rooms feature"}
		}
		c.onHistoryResult(f.HistoryResult)
	case wire.TypeAck, wire.TypePing:
		c.mu.Lock()
		moved, err := cc.st.Ack(f.Seq, &c.counts)
		if err != nil {
			c.mu.Unlock()
			return &violation{err.Error()}
		}
		if moved {
			c.dropAcked(f.Seq)
		}
		if f.Type == wire.TypePing {
			cc.st.PingDue() // answered with a Pong
		}
		c.mu.Unlock()
		if f.Type == wire.TypePing {
			cc.wake()
		}
	case wire.TypeGoAway:
		g := f.GoAway
		c.mu.Lock()
		if g.Flags&wire.GoAwayFinal != 0 {
			c.finalOut, c.haveFinal = g.LastSeq, true
		} else {
			c.hint, c.hinted = time.Duration(g.RetryAfter)*time.Millisecond, true
			cc.st.PeerDrain() // no more messages on this connection; our GoAway answers
		}
		c.mu.Unlock()
		cc.wake()
	default:
		return &violation{fmt.Sprintf("unexpected %s frame from the server", f.Type)}
	}
	return nil
}

// takeOut appends to msgs the outbox's messages that p says to write
// (those after p.From, up to maxBatch bytes) and records them as written;
// c.mu held. A connection of an earlier session writes none.
func (c *Client) takeOut(cc *cconn, p *link.Plan, msgs []tether.Message) []tether.Message {
	if !p.Data {
		return msgs
	}
	if cc.gen == c.gen {
		i := 0
		if len(c.out) > 0 && p.From >= c.out[0].Seq {
			i = int(p.From - c.out[0].Seq + 1)
		}
		b := 0
		for ; i < len(c.out) && (b == 0 || b+len(c.out[i].Data) <= maxBatch); i++ {
			msgs = append(msgs, c.out[i])
			b += len(c.out[i].Data)
		}
	}
	if len(msgs) == 0 {
		cc.st.Exhausted()
		return msgs
	}
	last := msgs[len(msgs)-1].Seq
	cc.st.Wrote(last)
	c.written = max(c.written, last)
	return msgs
}

func (cc *cconn) writeLoop() {
	c := cc.c
	var msgs []tether.Message
	for {
		select {
		case <-cc.wakeCh:
		case <-cc.stopCh:
			return
		}
		for {
			// What goes out is the connection state's to say (link.Conn.Plan):
			// an ack rides on whatever goes out (a Pong or the reply to
			// a GoAway carries it); alone it waits for Options.AckDelay
			// unless it is urgent. The first frame goes at once: it
			// confirms the Welcome.
			c.mu.Lock()
			hist := c.historyDue(cc)
			p, ok := cc.st.Plan(len(hist) > 0 || cc.confirm)
			if !ok {
				c.mu.Unlock()
				break
			}
			msgs = c.takeOut(cc, &p, msgs[:0])
			pong, ack := p.Ping, p.Ack
			needAck := p.AckFrame || cc.confirm
			reply := p.GoAway
			cc.confirm = false
			c.mu.Unlock()

			bp := ws.GetBuffer()
			b := *bp
			var hdr [24]byte
			switch {
			case pong:
				b = cc.ws.AppendFrame(b, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypePong, ack), nil)
			case needAck:
				b = cc.ws.AppendFrame(b, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypeAck, ack), nil)
			}
			for i := range msgs {
				m := &msgs[i]
				b = cc.ws.AppendFrame(b, ws.OpBinary, wire.AppendMessageHeader(hdr[:0], m.Type == tether.Text, m.Seq), m.Data)
			}
			for i := range hist {
				b = cc.ws.AppendFrame(b, ws.OpBinary, wire.AppendHistory(nil, &hist[i]), nil)
			}
			if reply {
				b = cc.ws.AppendFrame(b, ws.OpBinary, wire.AppendGoAway(hdr[:0], &wire.GoAway{LastSeq: ack}), nil)
			}
			clear(msgs)
			err := cc.ws.Write(b, 10*time.Second)
			*bp = b
			ws.PutBuffer(bp)
			if err != nil {
				_ = cc.ws.NetConn().Close()
				return
			}
		}
	}
}
