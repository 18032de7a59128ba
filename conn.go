package tether

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// maxBatch bounds the payload bytes written in one system call.
const maxBatch = 32 << 10

// conn is one WebSocket under a session. It is read by the server's
// poller (poll_linux.go) or by a reader goroutine that lives as long as
// the connection (portable path); its writer runs on the poller, or on a
// goroutine that lives only while frames are pending, and writes them all
// in one system call.
type conn struct {
	srv    *Server
	s      *Session // set before start
	ws     *ws.Conn
	hbSlot int32 // 1 + the slot holding c; 0 while its check runs (the heartbeat wheel's lock)

	lastRecv atomic.Int64 // unix nanos of the last frame from the client

	rd pollRead // the poller path's reading state

	// Guarded by the session's lock (s.mu), like the session's own
	// counters: one lock for everything of a session's protocol state.
	st     link.Conn   // the connection's protocol state: what goes to the client and who writes it, acks, drain, close
	ctrl   []byte      // framed control frames waiting to be written
	ackT   *time.Timer // runs when st.Acks asks for it (link.Arm)
	live   *delivery   // kickData's, until written: its last message is numbered st.Live()
	fenceT *time.Timer // fences a client slow to answer the GoAway

	// Small fields together, so that a connection is one size class
	// smaller; each is guarded as it says.
	hbIn         bool // the heartbeat wheel's lock: added, not yet removed
	confirmToken bool // the reader only
}

func newConn(srv *Server, wc *ws.Conn) *conn {
	return &conn{srv: srv, ws: wc}
}

// start runs the connection: reader, heartbeat, and the first write. A
// connection adopted by the server's poller (poll.go) is read by it and
// holds no goroutine while idle; others get a reader goroutine.
func (c *conn) start() {
	c.lastRecv.Store(time.Now().UnixNano())
	c.srv.hb.add(c, c.srv.o.HeartbeatInterval)
	c.s.mu.Lock()
	c.kick()
	c.s.mu.Unlock()
	if c.rd.polled {
		c.poll()
		return
	}
	c.srv.spawn(c.readLoop)
}

// queueFrame queues an encoded Tether frame; s.mu held or c not shared.
func (c *conn) queueFrame(f []byte) {
	c.ctrl = ws.AppendFrame(c.ctrl, false, ws.OpBinary, f, nil)
}

// kick starts the writer if it is not running (link.Sender.Claim); s.mu
// held. While the reader runs hooks it writes afterwards itself.
func (c *conn) kick() {
	if c.st.Claim() {
		c.srv.spawn(c.writeLoop)
	}
}

// ackDelay is how long an ack waits for a message to ride on: one write
// for reply and ack in a conversation, not two. It is short because the
// client's outbox holds what we have not acknowledged.
const ackDelay = 10 * time.Millisecond

// ackPolicy is when the server's acks go out on their own.
func (c *conn) ackPolicy() link.AckPolicy {
	d := ackDelay
	if c.srv.test.ackDelay > 0 {
		d = c.srv.test.ackDelay
	}
	return c.st.AckPolicy(d)
}

// ackDue runs when the timer asked for by the ack state fires.
func (c *conn) ackDue() {
	c.s.mu.Lock()
	if c.st.Acks.Due() {
		c.kick()
	}
	c.s.mu.Unlock()
}

// maxHold bounds how long writes wait for hooks to finish, so a slow
// hook delays neither pings nor messages sent from elsewhere.
const maxHold = time.Millisecond

// flush lifts the hold of runHooks: what is pending is written now.
func (c *conn) flush() {
	c.s.mu.Lock()
	if c.st.Release() {
		c.srv.spawn(c.writeLoop)
	}
	c.s.mu.Unlock()
}

// runHooks runs the session's pending hooks, then writes what they
// produced (replies, acks) in one system call on the same goroutine: one
// goroutine hand-off from message to reply, not two. Writes wait for the
// hooks at most maxHold: timed, by a timer of this call's own; otherwise
// the caller sees to it (the poller's watchdog calls flush).
func (c *conn) runHooks(timed bool) {
	c.s.mu.Lock()
	c.st.Hold()
	c.s.mu.Unlock()
	// The timer is this call's own: the session's drain ends (its queue
	// stops) before this call takes s.mu again, so a second runHooks may
	// already be under way on the same conn.
	var t *time.Timer
	if timed {
		t = time.AfterFunc(maxHold, c.flush)
	}
	c.s.drain()
	if t != nil {
		t.Stop() // an idle session keeps no timer but its heartbeat
	}
	c.s.mu.Lock()
	mine := c.st.Release()
	c.s.mu.Unlock()
	if mine {
		c.writeLoop()
	}
}

// welcomeReady lets the writer send the queued Welcome and what follows.
func (c *conn) welcomeReady() {
	c.s.mu.Lock()
	c.st.Ready()
	c.kick()
	c.s.mu.Unlock()
}

// kickData tells the writer that messages up to seq exist; d, if not
// nil, is the one numbered seq, which the writer frames without reading
// it back from the store when it is the only one to write. On a polled
// connection with a store of this process, the writer runs on the poller
// (poll_linux.go), where nothing it does blocks: no goroutine is started
// per delivery.
func (c *conn) kickData(seq uint64, d *delivery) {
	c.s.mu.Lock()
	wake := c.dataExists(seq, d)
	c.s.mu.Unlock()
	if wake {
		c.wakeWriter()
	}
}

// dataExists is kickData with s.mu held, for a caller that holds it
// anyway; the caller wakes the poller's writer after unlocking if told to.
func (c *conn) dataExists(seq uint64, d *delivery) (wake bool) {
	claim := c.st.Deliver(seq, d != nil)
	if d != nil && c.st.Live() == seq {
		c.live = d // the state took it as the message in hand
	}
	if !claim {
		return false // a writer runs, or will: it sees seq
	}
	if c.rd.polled && c.srv.pl.inline {
		return true
	}
	c.srv.spawn(c.writeLoop)
	return false
}

// afterBatch acknowledges what the session's hooks processed, n payload
// bytes of messages.
func (c *conn) afterBatch(n int) {
	s := c.s
	if c.srv.cluster != nil && !s.persistIn() {
		// Not durable yet: no ack. Try again shortly, while this is still
		// the session's connection (a fenced session left this server).
		time.AfterFunc(time.Second, func() {
			s.mu.Lock()
			current := s.life.Conn() == c
			s.mu.Unlock()
			if current {
				c.afterBatch(n)
			}
		})
		return
	}
	s.mu.Lock()
	p := s.counts.AckPoint(c.srv.cluster != nil)
	pol := c.ackPolicy()
	switch c.st.Acks.Processed(pol, p, n) {
	case link.Write:
		c.kick()
	case link.Arm:
		if c.ackT == nil {
			c.ackT = time.AfterFunc(pol.Delay, c.ackDue)
		} else {
			c.ackT.Reset(pol.Delay)
		}
	}
	draining := c.st.Draining()
	s.mu.Unlock()
	if draining {
		c.checkDrain()
	}
}

// plan takes what the next write carries (link.Conn.Plan) and the
// control frames queued, or reports that there is nothing to write; s.mu
// held. When the only message to write is the one kickData was given,
// it comes as live (Seq set), recorded as written, and p.Data is false.
func (c *conn) plan() (p link.Plan, ctrl []byte, live Message, ok bool) {
	p, ok = c.st.Plan(len(c.ctrl) > 0)
	if p.Live != 0 {
		live = c.live.msgs[len(c.live.msgs)-1]
		live.Seq = p.Live
	}
	if c.st.Live() == 0 {
		c.live = nil // written, here or from the store: let its payload go
	}
	if !ok {
		return p, nil, live, false
	}
	ctrl, c.ctrl = c.ctrl, nil
	return p, ctrl, live, true
}

// appendData appends, framed, the messages after from that the store
// keeps (up to maxBatch bytes) and records them as written. msgs is
// scratch space, returned for the next call.
func (c *conn) appendData(ctx context.Context, b, hdr []byte, from uint64, msgs []Message) ([]byte, []Message) {
	msgs, err := c.srv.store.Read(ctx, c.s.id, from, maxBatch, msgs[:0])
	if errors.Is(err, ErrGap) {
		msgs, err = c.skipAcked(ctx, from, msgs)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.srv.log.Error("tether: cannot read replay buffer", "session", c.s.id, "err", err)
	}
	if len(msgs) == 0 {
		c.s.mu.Lock()
		c.st.Exhausted() // nothing more is kept: stop looking
		c.s.mu.Unlock()
		return b, msgs
	}
	rooms := c.s.features&wire.FeatureRooms != 0
	for i := range msgs {
		b = appendMessage(b, hdr, &msgs[i], rooms)
	}
	last := msgs[len(msgs)-1].Seq
	clear(msgs)
	c.s.mu.Lock()
	c.st.Wrote(last)
	c.s.mu.Unlock()
	return b, msgs
}

// writeLoop writes what is pending, everything in one system call per
// round, until nothing is (which ends its claim); the caller claimed the
// writer (link.Sender.Claim).
func (c *conn) writeLoop() {
	var msgs []Message
	for {
		c.s.mu.Lock()
		p, ctrl, live, ok := c.plan()
		if !ok {
			c.s.mu.Unlock()
			return
		}
		c.s.mu.Unlock()

		bp := ws.GetBuffer()
		b := append(*bp, ctrl...)
		var hdr [160]byte
		switch {
		case p.Ping:
			b = ws.AppendFrame(b, false, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypePing, p.Ack), nil)
		case p.AckFrame:
			b = ws.AppendFrame(b, false, ws.OpBinary, wire.AppendSeqFrame(hdr[:0], wire.TypeAck, p.Ack), nil)
		}
		if live.Seq != 0 {
			b = appendMessage(b, hdr[:0], &live, c.s.features&wire.FeatureRooms != 0)
		}
		if p.Data {
			b, msgs = c.appendData(c.srv.ctx, b, hdr[:0], p.From, msgs)
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
		if p.Close {
			c.s.mu.Lock()
			code, reason := c.st.CloseFrame()
			c.st.End()
			c.s.mu.Unlock()
			c.ws.Shutdown(uint16(code), reason, closeLinger)
			return
		}
	}
}

// skipAcked reads the replay buffer after the client's acknowledgement
// when the messages after from are gone because the client acknowledged
// them: an ack that reached the server by the connection the client left
// after the resume checked its counters (it can only acknowledge what it
// received, so it has them). A gap below the acknowledgement would be the
// store's fault and is returned as such.
func (c *conn) skipAcked(ctx context.Context, from uint64, dst []Message) ([]Message, error) {
	rec, err := c.srv.store.Load(ctx, c.s.id)
	if err != nil {
		return dst, err
	}
	if rec.Acked <= from {
		return dst, fmt.Errorf("failed to read after %d (acknowledged %d): %w", from, rec.Acked, ErrGap)
	}
	c.srv.log.Debug("tether: the client acknowledged past the resume point; skipping", "session", c.s.id, "from", from, "acked", rec.Acked)
	c.s.mu.Lock()
	c.st.Skip(rec.Acked)
	c.s.mu.Unlock()
	return c.srv.store.Read(ctx, c.s.id, rec.Acked, maxBatch, dst)
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
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.st.Close(uint16(code), reason) {
		c.kick()
	}
}

// abort closes at once, trying a close frame for at most a second.
func (c *conn) abort(code wire.CloseCode, reason string) {
	c.s.mu.Lock()
	if !c.st.Abort() {
		c.s.mu.Unlock()
		return
	}
	c.s.mu.Unlock()
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.srv.spawn(func() {
		_ = c.ws.WriteClose(uint16(code), reason)
		_ = nc.Close()
	})
}

// fail handles a write error: the connection is gone.
func (c *conn) fail(cause Cause, err error) {
	c.s.mu.Lock()
	c.st.End()
	initiated := c.st.Closing()
	c.s.mu.Unlock()
	if !initiated {
		c.s.detach(c, cause, err)
	}
	_ = c.ws.Close()
}

// readLoop reads the connection on its own goroutine: the portable path.
func (c *conn) readLoop() {
	err := c.ws.ReadMessage(c.onFrame)
	if c.readEnded(err) {
		// Read until the client answers our close frame or the linger ends.
		c.ws.Discard()
	}
	c.finish(err)
}

// readEnded acts on the end of reading: err is why. It reports whether
// the connection should go on reading, discarding, until the client
// answers the close frame it is being sent or the linger ends.
func (c *conn) readEnded(err error) (discard bool) {
	c.s.mu.Lock()
	initiated := c.st.Closing()
	draining := c.st.Sealed()
	c.s.mu.Unlock()
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
		return true
	case code != 0:
		c.srv.log.Info("tether: closing session", "session", c.s.id, "user", c.s.user, "cause", cause.String(), "err", err)
		c.s.end(cause, err, code, closeReason(err))
		c.closeWith(code, closeReason(err))
		return true
	case cause == CauseClientClosed:
		c.s.end(cause, err, 0, "")
	default:
		c.s.detach(c, cause, err)
	}
	return false
}

// finish releases the connection once reading is over.
func (c *conn) finish(err error) {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		_ = c.ws.EchoClose(ce)
	}
	c.s.mu.Lock()
	c.st.End()
	c.s.mu.Unlock()
	c.srv.hb.remove(c)
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
	if c.srv.test.frameHook != nil {
		defer c.srv.test.frameHook()()
	}
	if c.confirmToken {
		c.confirmToken = false
		c.s.tokenConfirmed(c)
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
		return c.s.receive(c, f.Seq, typ, append([]byte(nil), f.Payload...))
	case wire.TypeAck:
		return c.onAck(f.Seq)
	case wire.TypePong:
		c.s.mu.Lock()
		probed := c.st.Pong()
		c.s.mu.Unlock()
		if probed {
			c.srv.log.Debug("tether: draining client read the GoAway (it answered the Ping after it): not taking its messages any more", "session", c.s.id, "user", c.s.user)
			c.fence()
		}
		return c.onAck(f.Seq)
	case wire.TypeGoAway:
		c.s.mu.Lock()
		c.st.Answered()
		c.s.mu.Unlock()
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
	s := c.s
	s.mu.Lock()
	moved, err := c.st.Ack(seq, &s.counts)
	if moved {
		s.ackMoved()
	}
	draining := c.st.Draining()
	s.mu.Unlock()
	if err != nil {
		return violationf("%v", err)
	}
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
	c.s.mu.Lock()
	last, ok := c.st.Drain()
	if !ok {
		c.s.mu.Unlock()
		return
	}
	var b [32]byte
	c.queueFrame(wire.AppendGoAway(b[:0], &wire.GoAway{RetryAfter: uint64(retry / time.Millisecond), LastSeq: last}))
	c.fenceT = time.AfterFunc(answer, c.fence)
	c.kick()
	c.s.mu.Unlock()
}

// fence stops taking the client's messages: from now on they are dropped
// unprocessed, never acknowledged. Only a draining connection is fenced.
func (c *conn) fence() {
	c.s.mu.Lock()
	if c.fenceT != nil {
		c.fenceT.Stop()
	}
	first := c.st.Fence()
	c.s.mu.Unlock()
	if first {
		c.checkDrain()
	}
}

// checkDrain closes a draining connection once both sides are even:
// the connection is fenced and every message taken before the fence was
// processed, no Send is in flight (new ones fail with ErrServerClosed),
// and the client acknowledged every message. The final Ack then tells
// the client exactly what was processed, the final GoAway the last seq
// there will ever be, so it can count exactly what it missed; with a
// store of its own the session ends there and then.
func (c *conn) checkDrain() {
	s := c.s
	shared := c.srv.cluster != nil
	for {
		s.mu.Lock()
		step := c.st.DrainStep(&s.counts, shared, s.life.Final())
		s.mu.Unlock()
		if step == link.StepWait {
			return
		}
		if step == link.StepLoad {
			break
		}
		c.srv.connQuiet() // the last to settle passes the barrier, which checks every connection again
	}
	rec, err := c.srv.store.Load(c.srv.ctx, s.id)
	var acked, out uint64
	if err == nil {
		acked, out = rec.Acked, rec.Out
	}
	if !link.Finish(shared, err == nil, acked, out) {
		return
	}
	s.mu.Lock()
	processed := s.counts.Processed()
	if !c.st.Seal(processed, uint16(wire.CloseServerRestart), "tether: server restarting") {
		s.mu.Unlock()
		return
	}
	var b [32]byte
	c.queueFrame(wire.AppendSeqFrame(b[:0], wire.TypeAck, processed))
	c.queueFrame(wire.AppendGoAway(b[:0], &wire.GoAway{Flags: wire.GoAwayFinal, LastSeq: out}))
	c.kick()
	s.mu.Unlock()
	if !shared {
		// Nothing more comes in or goes out: the session is over now, not
		// when the slowest client is, so its close hook runs at once.
		s.end(CauseServerShutdown, nil, 0, "")
	}
}
