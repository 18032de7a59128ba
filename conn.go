package tether

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// maxBatch bounds the payload bytes written in one system call.
const maxBatch = 32 << 10

// conn is one WebSocket under a session. Its reader goroutine lives as
// long as the connection; its writer goroutine only while frames are
// pending, and then writes them all in one system call.
type conn struct {
	srv    *Server
	s      *Session // set before start
	ws     *ws.Conn
	window uint64 // the client's unacknowledged-message limit

	lastRecv atomic.Int64  // unix nanos of the last frame from the client
	ackHigh  atomic.Uint64 // highest ack written: the client's window starts there
	hb       *time.Timer

	// Reader goroutine only.
	confirmToken bool

	mu          sync.Mutex
	hold        bool        // hooks are running; their goroutine writes afterwards
	holdT       *time.Timer // ends a hold that lasts too long
	ready       bool        // the Welcome is queued: writing may start
	ctrl        []byte      // framed control frames waiting to be written
	target      uint64      // highest server→client seq known to exist
	written     uint64      // highest server→client seq written (set before the write)
	ackWant     uint64      // client→server seq to acknowledge
	ackSent     uint64
	ackUrgent   bool        // write the ack even if nothing else is going out
	ackT        *time.Timer // makes a delayed ack urgent
	ackArmed    bool
	pingDue     bool
	writing     bool
	dead        bool
	closeReq    bool
	closeCode   wire.CloseCode
	closeReason string
	draining    bool
	clientGone  bool // the client answered our GoAway: it sends nothing more
	quiet       bool // fenced, and everything taken before the fence processed
	finalSent   bool
	pings       int         // Pings written
	pongs       int         // Pongs received
	probeAt     int         // draining: pings once the one after the GoAway is written
	fenceT      *time.Timer // fences a client slow to answer the GoAway

	// Draining (shutdown.go): once fenced, the client's messages are
	// dropped unprocessed; taking is set while the reader hands one
	// over, so that the fence and a message cannot cross unseen.
	fenced atomic.Bool
	taking atomic.Bool
}

func newConn(srv *Server, wc *ws.Conn) *conn {
	return &conn{srv: srv, ws: wc}
}

// start runs the connection: reader, heartbeat, and the first write.
func (c *conn) start() {
	c.lastRecv.Store(time.Now().UnixNano())
	c.mu.Lock()
	c.hb = time.AfterFunc(c.srv.o.HeartbeatInterval, c.heartbeat)
	c.kick()
	c.mu.Unlock()
	c.srv.spawn(c.readLoop)
}

// queueFrame queues an encoded Tether frame; c.mu held or c not shared.
func (c *conn) queueFrame(f []byte) {
	c.ctrl = ws.AppendFrame(c.ctrl, false, ws.OpBinary, f, nil)
}

// kick starts the writer if it is not running; c.mu held. While the
// reader runs hooks it writes afterwards itself.
func (c *conn) kick() {
	if !c.writing && !c.dead && !c.hold {
		c.writing = true
		c.srv.spawn(c.writeLoop)
	}
}

// ackDelay is how long an ack waits for a message to ride on: one write
// for reply and ack in a conversation, not two.
const ackDelay = 10 * time.Millisecond

// ackDue makes a delayed ack urgent.
func (c *conn) ackDue() {
	c.mu.Lock()
	if c.ackArmed {
		c.ackUrgent = true
		c.kick()
	}
	c.mu.Unlock()
}

// maxHold bounds how long writes wait for hooks to finish, so a slow
// hook delays neither pings nor messages sent from elsewhere.
const maxHold = time.Millisecond

// flush lifts the hold of runHooks: what is pending is written now.
func (c *conn) flush() {
	c.mu.Lock()
	c.hold = false
	c.kick()
	c.mu.Unlock()
}

// runHooks runs the session's pending hooks, then writes what they
// produced (replies, acks) in one system call on the same goroutine: one
// goroutine hand-off from message to reply, not two. Writes wait for the
// hooks at most maxHold.
func (c *conn) runHooks() {
	c.mu.Lock()
	c.hold = true
	if c.holdT == nil {
		c.holdT = time.AfterFunc(maxHold, c.flush)
	} else {
		c.holdT.Reset(maxHold)
	}
	c.mu.Unlock()
	c.s.drain()
	c.mu.Lock()
	c.holdT.Stop()
	c.hold = false
	if c.writing || c.dead {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.writeLoop()
}

func (c *conn) kickData(seq uint64) {
	c.mu.Lock()
	if seq > c.target {
		c.target = seq
	}
	c.kick()
	c.mu.Unlock()
}

// afterBatch acknowledges what the session's hooks processed.
func (c *conn) afterBatch() {
	s := c.s
	if c.srv.cluster != nil && !s.persistIn() {
		// Not durable yet: no ack. Try again shortly.
		time.AfterFunc(time.Second, c.afterBatch)
		return
	}
	s.mu.Lock()
	p := s.savedIn
	if c.srv.cluster == nil {
		p = s.processed
	}
	s.mu.Unlock()
	c.mu.Lock()
	if p > c.ackWant {
		c.ackWant = p
	}
	if c.ackWant > c.ackSent {
		// Acks ride on the next write; alone they wait up to ackDelay, or
		// go at once when half the client's window is unacknowledged.
		if c.ackWant-c.ackSent >= max(1, c.window/2) {
			c.ackUrgent = true
			c.kick()
		} else if !c.ackArmed {
			c.ackArmed = true
			if c.ackT == nil {
				c.ackT = time.AfterFunc(ackDelay, c.ackDue)
			} else {
				c.ackT.Reset(ackDelay)
			}
		}
	}
	draining := c.draining
	c.mu.Unlock()
	if draining {
		c.checkDrain()
	}
}

func (c *conn) writeLoop() {
	var msgs []Message
	ctx := c.srv.ctx
	for {
		c.mu.Lock()
		if c.dead || (!c.ready && !c.closeReq) {
			c.writing = false
			c.mu.Unlock()
			return
		}
		hasData := c.ready && c.written < c.target && !c.closeReq && !c.finalSent
		ping := c.pingDue
		ack := max(c.ackWant, c.ackSent)
		needAck := c.ackWant > c.ackSent && (c.ackUrgent || hasData || len(c.ctrl) > 0) || ping
		ctrl := c.ctrl
		closeReq := c.closeReq
		if len(ctrl) == 0 && !needAck && !hasData && !closeReq {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.ctrl = nil
		c.pingDue = false
		if ping && !closeReq {
			c.pings++
			if c.draining && c.probeAt == 0 {
				// The Ping after the GoAway: its Pong shows the client
				// read the GoAway (see fence).
				c.probeAt = c.pings
			}
		}
		if needAck {
			c.ackUrgent, c.ackArmed = false, false
			c.ackSent = ack
			if ack > c.ackHigh.Load() {
				c.ackHigh.Store(ack)
			}
		}
		from := c.written
		c.mu.Unlock()

		bp := ws.GetBuffer()
		b := append(*bp, ctrl...)
		var hdr [160]byte
		switch {
		case ping && !closeReq:
			b = ws.AppendFrame(b, false, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypePing, ack), nil)
		case needAck:
			b = ws.AppendFrame(b, false, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypeAck, ack), nil)
		}
		if hasData {
			var err error
			msgs, err = c.srv.store.Read(ctx, c.s.id, from, maxBatch, msgs[:0])
			if err != nil && !errors.Is(err, ErrNotFound) {
				c.srv.log.Error("tether: cannot read replay buffer", "session", c.s.id, "err", err)
			}
			if len(msgs) > 0 {
				rooms := c.s.features&wire.FeatureRooms != 0
				for i := range msgs {
					b = appendMessage(b, hdr[:0], &msgs[i], rooms)
				}
				last := msgs[len(msgs)-1].Seq
				clear(msgs)
				c.mu.Lock()
				if last > c.written {
					c.written = last
				}
				if last > c.target {
					c.target = last
				}
				c.mu.Unlock()
			} else {
				c.mu.Lock()
				c.target = c.written // nothing more is kept: stop looking
				c.mu.Unlock()
			}
		}
		var err error
		if len(b) > 0 {
			err = c.ws.Write(b, c.srv.o.WriteTimeout)
		}
		*bp = b
		ws.PutBuffer(bp)
		if err != nil {
			c.fail(CauseNetworkLost, fmt.Errorf("failed to write: %w", err))
			return
		}
		if closeReq {
			c.mu.Lock()
			code, reason := c.closeCode, c.closeReason
			c.dead = true
			c.writing = false
			c.mu.Unlock()
			c.ws.Shutdown(uint16(code), reason, 2*time.Second)
			return
		}
	}
}

// appendMessage appends a message of the session's stream, framed: a
// room's message with its room and offset, or a room event, if the client
// speaks room streams; otherwise as a plain message (a room event never
// reaches such a client).
func appendMessage(b, hdr []byte, m *Message, rooms bool) []byte {
	switch {
	case m.Type == typeRoomEvent:
		return ws.AppendFrame(b, false, ws.OpBinary, wire.AppendSeqFrame(hdr, wire.TypeRoomEvent, m.Seq), m.Data)
	case m.Offset != 0 && rooms:
		return ws.AppendFrame(b, false, ws.OpBinary, wire.AppendRoomMessageHeader(hdr, m.Type == Text, m.Seq, wireRoom(m.Room), m.Offset), m.Data)
	}
	return ws.AppendFrame(b, false, ws.OpBinary, wire.AppendMessageHeader(hdr, m.Type == Text, m.Seq), m.Data)
}

// closeWith asks the writer to flush control frames and close with code.
func (c *conn) closeWith(code wire.CloseCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.closeReq {
		return
	}
	c.closeReq = true
	c.closeCode, c.closeReason = code, reason
	c.kick()
}

// abort closes at once, trying a close frame for at most a second.
func (c *conn) abort(code wire.CloseCode, reason string) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	c.closeReq = true
	c.mu.Unlock()
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.srv.spawn(func() {
		_ = c.ws.WriteClose(uint16(code), reason)
		_ = nc.Close()
	})
}

// fail handles a write error: the connection is gone.
func (c *conn) fail(cause Cause, err error) {
	c.mu.Lock()
	c.dead = true
	c.writing = false
	initiated := c.closeReq
	c.mu.Unlock()
	if !initiated {
		c.s.detach(c, cause, err)
	}
	_ = c.ws.Close()
}

func (c *conn) heartbeat() {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	now := time.Now()
	limit := c.srv.o.HeartbeatInterval + c.srv.o.HeartbeatTimeout
	deadline := time.Unix(0, c.lastRecv.Load()).Add(limit)
	if !now.Before(deadline) {
		c.s.detach(c, CauseHeartbeatTimeout, fmt.Errorf("nothing received for %v", limit))
		c.abort(wire.CloseHeartbeatTimeout, "tether: heartbeat timeout")
		return
	}
	c.mu.Lock()
	c.pingDue = true
	c.kick()
	c.mu.Unlock()
	next := c.srv.o.HeartbeatInterval
	if d := deadline.Sub(now); d < next {
		next = d
	}
	c.hb.Reset(next)
}

func (c *conn) readLoop() {
	err := c.ws.ReadMessage(c.onFrame)

	c.mu.Lock()
	initiated := c.closeReq
	draining := c.finalSent
	c.mu.Unlock()
	code, cause := classifyReadErr(err)
	var pe *policyError
	if errors.As(err, &pe) {
		code, cause = wire.ClosePolicy, CausePolicyViolation
	}
	switch {
	case draining:
		c.s.detach(c, CauseServerRestart, nil)
	case initiated:
		// We closed; the peer's close frame is an echo.
	case cause == CauseRateLimited:
		c.srv.log.Info("tether: client over its rate limit", "session", c.s.id, "user", c.s.user)
		c.s.detach(c, cause, err)
		c.closeWith(code, "tether: rate limit exceeded; resume after a backoff")
		c.ws.Discard()
	case code != 0:
		c.srv.log.Info("tether: closing session", "session", c.s.id, "user", c.s.user, "cause", cause.String(), "err", err)
		c.s.end(cause, err, code, closeReason(err))
		c.closeWith(code, closeReason(err))
		// Read until the client answers our close frame or the linger ends.
		c.ws.Discard()
	case cause == CauseClientClosed:
		c.s.end(cause, err, 0, "")
	default:
		c.s.detach(c, cause, err)
	}
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		_ = c.ws.EchoClose(ce)
	}
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.hb.Stop()
	_ = c.ws.Close()
	c.ws.Drop()
	c.srv.removeConn(c)
}

func closeReason(err error) string {
	s := "tether: " + err.Error()
	if len(s) > 123 {
		s = s[:123]
	}
	return s
}

func (c *conn) onFrame(op byte, p []byte) error {
	return c.frame(op, p)
}

func (c *conn) frame(op byte, p []byte) error {
	if op != ws.OpBinary {
		return violationf("text WebSocket frame; Tether frames are binary")
	}
	c.lastRecv.Store(time.Now().UnixNano())
	f, err := wire.Decode(p)
	if err != nil {
		return err
	}
	if c.confirmToken {
		c.confirmToken = false
		c.s.tokenConfirmed()
	}
	switch f.Type {
	case wire.TypeBinary, wire.TypeText:
		typ := Binary
		if f.Type == wire.TypeText {
			typ = Text
			if !utf8.Valid(f.Payload) {
				return violationf("text message %d is not UTF-8", f.Seq)
			}
		}
		if len(f.Payload) > c.srv.o.MaxMessageSize {
			return ws.ErrTooBig
		}
		c.taking.Store(true)
		if c.fenced.Load() {
			// Draining, and the client was told to stop: not taken, never
			// acknowledged; the client sends it again or reports it.
			c.taking.Store(false)
			return nil
		}
		err := c.s.receive(c, f.Seq, typ, append([]byte(nil), f.Payload...))
		c.taking.Store(false)
		if c.fenced.Load() {
			c.checkDrain()
		}
		return err
	case wire.TypeAck:
		return c.onAck(f.Seq)
	case wire.TypePong:
		c.mu.Lock()
		c.pongs++
		// Pongs answer Pings in order, one or more each: the probeAt-th
		// answers the Ping after the GoAway or a later one.
		probed := c.probeAt > 0 && c.pongs >= c.probeAt && !c.clientGone
		c.mu.Unlock()
		if probed && !c.fenced.Load() {
			c.srv.log.Debug("tether: draining client read the GoAway (it answered the Ping after it): not taking its messages any more", "session", c.s.id, "user", c.s.user)
			c.fence()
		}
		return c.onAck(f.Seq)
	case wire.TypeGoAway:
		c.mu.Lock()
		c.clientGone = true
		c.mu.Unlock()
		c.fence()
		return c.onAck(f.GoAway.LastSeq)
	case wire.TypeHistory:
		if c.s.features&wire.FeatureRooms == 0 {
			break
		}
		c.history(f.History)
		return nil
	}
	return violationf("unexpected %s frame from a client", f.Type)
}

func (c *conn) onAck(seq uint64) error {
	c.mu.Lock()
	w := c.written
	draining := c.draining
	c.mu.Unlock()
	if seq > w {
		return violationf("ack %d beyond last sent %d", seq, w)
	}
	c.s.ackedUpTo(seq)
	if err := c.srv.store.Ack(c.srv.ctx, c.s.id, seq); err != nil {
		if errors.Is(err, ErrAckRange) {
			return violationf("ack %d beyond last sent", seq)
		}
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled) {
			c.srv.log.Warn("tether: cannot record ack", "session", c.s.id, "err", err)
		}
	}
	if draining {
		c.checkDrain()
	}
	return nil
}

// startDrain tells the client the server is going away (shutdown.go
// describes the drain). A Ping follows the GoAway: a client that answers
// it without answering the GoAway ignores the drain, and is fenced.
func (c *conn) startDrain(retry time.Duration) {
	c.srv.mu.Lock()
	answer := c.srv.answerWait
	c.srv.mu.Unlock()
	c.mu.Lock()
	if c.dead || c.draining || c.closeReq {
		c.mu.Unlock()
		return
	}
	c.draining = true
	var b [32]byte
	c.queueFrame(wire.AppendGoAway(b[:0], &wire.GoAway{RetryAfter: uint64(retry / time.Millisecond), LastSeq: c.target}))
	c.pingDue = true
	c.fenceT = time.AfterFunc(answer, c.fence)
	c.kick()
	c.mu.Unlock()
}

// fence stops taking the client's messages: from now on they are dropped
// unprocessed, never acknowledged. Only a draining connection is fenced.
func (c *conn) fence() {
	c.mu.Lock()
	draining := c.draining
	if c.fenceT != nil {
		c.fenceT.Stop()
	}
	c.mu.Unlock()
	if !draining || c.fenced.Swap(true) {
		return
	}
	c.checkDrain()
}

// checkDrain closes a draining connection once both sides are even:
// the connection is fenced and every message taken before the fence was
// processed, no Send is in flight (new ones fail with ErrServerClosed),
// and the client acknowledged every message. The final Ack then tells
// the client exactly what was processed, the final GoAway the last seq
// there will ever be, so it can count exactly what it missed; with a
// store of its own the session ends there and then.
func (c *conn) checkDrain() {
	c.mu.Lock()
	ok := c.draining && !c.finalSent && !c.dead
	c.mu.Unlock()
	if !ok || !c.fenced.Load() || c.taking.Load() {
		return
	}
	s := c.s
	clustered := c.srv.cluster != nil
	s.mu.Lock()
	if s.processed != s.in || (clustered && s.savedIn != s.in) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	if !clustered {
		// The sessions end with this server. Until every connection is
		// settled, a message may still be taken and broadcast by its hook
		// to this session, so its last seq is not known yet.
		c.mu.Lock()
		first := !c.quiet
		c.quiet = true
		c.mu.Unlock()
		if first {
			c.srv.connQuiet()
		}
		if !c.srv.isFinal() {
			return
		}
	}
	s.mu.Lock()
	processed, appending := s.processed, s.appending
	s.mu.Unlock()
	if appending > 0 {
		return // the Send will call again
	}
	rec, err := c.srv.store.Load(c.srv.ctx, s.id)
	if err == nil && rec.Acked != rec.Out && !clustered {
		return // the client's ack will call again
	}
	var out uint64
	if rec != nil {
		out = rec.Out
	}
	c.mu.Lock()
	if c.finalSent || c.dead {
		c.mu.Unlock()
		return
	}
	c.finalSent = true
	var b [32]byte
	c.queueFrame(wire.AppendSeqFrame(b[:0], wire.TypeAck, processed))
	c.ackSent = processed
	c.ackHigh.Store(max(c.ackHigh.Load(), processed))
	c.queueFrame(wire.AppendGoAway(b[:0], &wire.GoAway{Flags: wire.GoAwayFinal, LastSeq: out}))
	c.closeReq = true
	c.closeCode, c.closeReason = wire.CloseServerRestart, "tether: server restarting"
	c.kick()
	c.mu.Unlock()
	if !clustered {
		// Nothing more comes in or goes out: the session is over now, not
		// when the slowest client is, so its close hook runs at once.
		s.end(CauseServerShutdown, nil, 0, "")
	}
}
