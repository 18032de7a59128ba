// Package client is Tether's Go client. It keeps one session across any
// number of connections: it reconnects by itself with exponential backoff
// and full jitter, resumes the session, replays what the server missed and
// receives what it missed, exactly once and in order. Sends made while
// offline are queued (bounded) and delivered after the resume. When a
// session cannot be resumed, a SessionLost event says what was lost.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
)

// Errors.
var (
	// ErrOutboxFull: the outbox is at MaxOutbox or MaxOutboxBytes and the
	// client is not connected, so it cannot drain.
	ErrOutboxFull = errors.New("tether client: outbox full")
	// ErrClosed: the client was closed or has failed.
	ErrClosed = errors.New("tether client: closed")
	// ErrTooBig: the message exceeds the server's size limit.
	ErrTooBig = errors.New("tether client: message too big")

	// Why a client failed (Failed.Err and Err wrap one of these, and the
	// *tether.CloseError received, if any).

	// ErrGaveUp: MaxAttempts or MaxElapsed was reached without a
	// connection.
	ErrGaveUp = errors.New("tether client: gave up reconnecting")
	// ErrUnauthorized: authentication failed (close 4401, HTTP 401).
	ErrUnauthorized = errors.New("tether client: unauthorized")
	// ErrForbidden: access refused (close 4403, HTTP 403): a bad resume
	// token, another user's session, a refused origin.
	ErrForbidden = errors.New("tether client: forbidden")
	// ErrKicked: the application ended the session (close 4410).
	ErrKicked = errors.New("tether client: kicked")
	// ErrRefused: another refusal that retrying cannot fix: a close code
	// from 4400 to 4999 (protocol violation, replaced, too big, policy…),
	// an HTTP 4xx, or a server that does not speak the protocol.
	ErrRefused = errors.New("tether client: refused")
)

// refusal returns the sentinel for a terminal close code.
func refusal(code tether.CloseCode) error {
	switch code {
	case tether.CloseUnauthorized:
		return ErrUnauthorized
	case tether.CloseForbidden:
		return ErrForbidden
	case tether.CloseKicked:
		return ErrKicked
	}
	return ErrRefused
}

// httpRefusal returns the sentinel for an HTTP status that refuses.
func httpRefusal(status int) error {
	switch status {
	case 401:
		return ErrUnauthorized
	case 403:
		return ErrForbidden
	}
	return ErrRefused
}

// Client is a session with a Tether server. Its methods are safe for
// concurrent use.
type Client struct {
	url  string
	o    Options
	log  *slog.Logger
	disp *dispatcher

	ctx    context.Context // cancelled when the client stops
	cancel context.CancelFunc
	force  chan struct{}
	quit   chan struct{} // closed by Close
	ended  chan struct{} // closed when run returns
	done   chan struct{} // closed after the last event was dispatched
	wg     sync.WaitGroup

	mu        sync.Mutex
	status    Status
	err       error
	closing   bool
	quitOnce  sync.Once
	gen       uint64 // bumped for every new session
	sessionID string
	token     []byte
	epoch     string
	maxSize   int
	hbLimit   time.Duration
	counts    link.Counts // server seqs taken and handled by OnMessage; client seqs numbered and acknowledged
	out       []tether.Message
	outBytes  int
	written   uint64 // highest client seq ever written to a connection
	space     chan struct{}
	cc        *cconn
	hint      time.Duration // server's reconnect delay from GoAway
	hinted    bool
	attempt   uint64 // stamp of the last connection attempt
	finalOut  uint64 // server's last seq from a final GoAway
	haveFinal bool
	features  uint64                         // wire features of the current session
	rooms     map[string]tether.RoomPosition // the client's position in each room it is in
	hist      map[uint64]*histReq            // History calls waiting for an answer
	histID    uint64
}

// Dial connects to a Tether server at url (ws:// or wss://) and returns
// once a session is established. It retries transient failures with the
// backoff in opts until ctx ends; a refusal (HTTP 4xx, close codes
// 4400–4999) fails at once. After Dial returns, ctx no longer matters.
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	c := &Client{
		url: url, o: o, log: o.Logger,
		force: make(chan struct{}, 1), quit: make(chan struct{}),
		ended: make(chan struct{}), done: make(chan struct{}),
		status: StatusConnecting, space: make(chan struct{}), maxSize: 64 << 10,
		rooms: maps.Clone(o.RoomPositions),
	}
	if c.rooms == nil {
		c.rooms = make(map[string]tether.RoomPosition)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.disp = newDispatcher(o.OnMessage, o.OnEvent, c.handled)
	first := make(chan error, 1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.run(first)
	}()
	go func() {
		c.wg.Wait()
		c.disp.push(item{ev: doneEvent{c.done}})
	}()
	select {
	case err := <-first:
		if err != nil {
			<-c.done
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.stop()
		<-c.done
		return nil, fmt.Errorf("failed to dial %s: %w", url, ctx.Err())
	}
}

// doneEvent closes the channel once dispatched; it is not shown to OnEvent.
type doneEvent struct{ ch chan struct{} }

func (doneEvent) isEvent() {}

// Status returns the client's status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Err returns why the client failed, or nil.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// SessionID returns the current session's ID.
func (c *Client) SessionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// Pending returns how many sent messages the server has not acknowledged.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out)
}

// Done is closed when the client has stopped and every callback returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Send queues a message for the server and returns; it is delivered
// exactly once, in order, across reconnects. p is copied. When the outbox
// is full Send waits for acknowledgements while connected (until ctx
// ends) and fails with ErrOutboxFull while not.
func (c *Client) Send(ctx context.Context, typ tether.MessageType, p []byte) error {
	switch typ {
	case tether.Text:
		if !utf8.Valid(p) {
			return tether.ErrInvalidUTF8
		}
	case tether.Binary:
	default:
		return fmt.Errorf("tether client: invalid message type %d", typ)
	}
	data := append([]byte(nil), p...)
	c.mu.Lock()
	for {
		if len(p) > c.maxSize {
			c.mu.Unlock()
			return fmt.Errorf("failed to send %d bytes (limit %d): %w", len(p), c.maxSize, ErrTooBig)
		}
		if c.closing || c.status == StatusClosed || c.status == StatusFailed {
			c.mu.Unlock()
			return ErrClosed
		}
		if len(c.out) < c.o.MaxOutbox && (c.outBytes+len(p) <= c.o.MaxOutboxBytes || len(c.out) == 0) {
			break
		}
		if st := c.status; st != StatusConnected {
			c.mu.Unlock()
			return fmt.Errorf("failed to send while %s: %w", st, ErrOutboxFull)
		}
		ch := c.space
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("failed to send: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	seq := c.counts.Number()
	c.out = append(c.out, tether.Message{Type: typ, Data: data, Seq: seq})
	c.outBytes += len(data)
	cc := c.cc
	if cc != nil {
		cc.st.Exists(seq)
	}
	c.mu.Unlock()
	if cc != nil {
		cc.wake()
	}
	return nil
}

// ForceReconnect drops the current connection (telling the server to keep
// the session) and reconnects at once.
func (c *Client) ForceReconnect() {
	select {
	case c.force <- struct{}{}:
	default:
	}
}

// Close waits until the server has acknowledged every queued message or
// ctx ends, then ends the session (the server sees CauseClientClosed).
// It reports how many messages were left undelivered, if any.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closing || c.status == StatusClosed || c.status == StatusFailed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closing = true
	c.mu.Unlock()
	var left int
	for {
		c.mu.Lock()
		left = len(c.out)
		ch := c.space
		failed := c.status == StatusFailed
		c.mu.Unlock()
		if left == 0 || failed {
			break
		}
		select {
		case <-ch:
			continue
		case <-ctx.Done():
		case <-c.ended:
		}
		break
	}
	c.stop()
	<-c.ended
	if left > 0 {
		err := ctx.Err()
		if err == nil {
			err = c.Err()
		}
		return fmt.Errorf("tether client: closed with %d messages unacknowledged: %w", left, err)
	}
	return nil
}

func (c *Client) stop() {
	c.quitOnce.Do(func() {
		close(c.quit)
		c.cancel()
	})
}

// handled runs after OnMessage returned for messages up to seq, of n
// payload bytes since the last call.
func (c *Client) handled(gen, seq uint64, n int) {
	c.mu.Lock()
	if gen != c.gen || seq <= c.counts.Processed() {
		c.mu.Unlock()
		return
	}
	c.counts.Done(seq)
	if cc := c.cc; cc != nil {
		cc.ackLater(seq, n)
	}
	c.mu.Unlock()
}

// ackUpTo takes the server's acknowledgement of seq; c.mu held.
func (c *Client) ackUpTo(seq uint64) {
	if c.counts.Acked(seq) {
		c.dropAcked(seq)
	}
}

// dropAcked drops the messages the server acknowledged, up to seq; c.mu
// held.
func (c *Client) dropAcked(seq uint64) {
	n := 0
	for n < len(c.out) && c.out[n].Seq <= seq {
		c.outBytes -= len(c.out[n].Data)
		n++
	}
	if n == 0 {
		return
	}
	clear(c.out[:n])
	c.out = c.out[n:]
	if len(c.out) == 0 {
		c.out = nil
	}
	c.wakeSenders()
}

func (c *Client) emit(ev Event) { c.disp.push(item{ev: ev}) }

func (c *Client) setStatus(s Status) {
	c.mu.Lock()
	c.status = s
	c.wakeSenders()
	c.mu.Unlock()
}

// wakeSenders lets Sends waiting for outbox space look again; c.mu held.
func (c *Client) wakeSenders() {
	close(c.space)
	c.space = make(chan struct{})
}

// run owns the reconnect loop: every state transition happens here.
func (c *Client) run(first chan<- error) {
	var (
		attempt   int
		lostSince time.Time
		lastErr   error
	)
	for {
		cc, w, err := c.connect()
		if err == nil {
			c.adopt(cc, w)
			if first != nil {
				first <- nil
				first = nil
			}
			attempt, lostSince = 0, time.Time{}
			r := c.serve(cc)
			c.emit(Disconnected{Cause: r.cause, Code: r.code, Err: r.err})
			if r.quit {
				c.finish(StatusClosed, nil)
				return
			}
			if !r.reconnect {
				c.finish(StatusFailed, fmt.Errorf("server ended the session: %w: %w", refusal(r.code), r.err))
				return
			}
			c.setStatus(StatusReconnecting)
			lastErr = r.err
			lostSince = time.Now()
			if r.immediate {
				continue
			}
		} else {
			if c.isQuit() {
				c.finish(StatusClosed, nil)
				return
			}
			lastErr = err
			var te *terminalError
			if errors.As(err, &te) {
				if first != nil {
					first <- fmt.Errorf("failed to dial %s: %w", c.url, err)
					first = nil
				}
				c.finish(StatusFailed, err)
				return
			}
			if lostSince.IsZero() {
				lostSince = time.Now()
			}
		}
		attempt++
		if (c.o.MaxAttempts > 0 && attempt > c.o.MaxAttempts) || (c.o.MaxElapsed > 0 && time.Since(lostSince) > c.o.MaxElapsed) {
			err := fmt.Errorf("%w after %d attempts over %v: %w", ErrGaveUp, attempt-1, time.Since(lostSince).Round(time.Millisecond), lastErr)
			if first != nil {
				first <- fmt.Errorf("failed to dial %s: %w", c.url, err)
				first = nil
			}
			c.finish(StatusFailed, err)
			return
		}
		delay := c.backoff(attempt)
		c.mu.Lock()
		if c.hinted {
			delay, c.hinted = c.hint, false
		}
		c.mu.Unlock()
		c.emit(Reconnecting{Attempt: attempt, Delay: delay, Err: lastErr})
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.force:
			t.Stop()
		case <-c.quit:
			t.Stop()
			c.finish(StatusClosed, nil)
			return
		}
	}
}

func (c *Client) isQuit() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// backoff returns the full-jitter delay before attempt n (1-based).
func (c *Client) backoff(n int) time.Duration {
	ceil := float64(c.o.InitialDelay) * math.Pow(c.o.Multiplier, float64(n-1))
	if ceil > float64(c.o.MaxDelay) || math.IsInf(ceil, 0) || math.IsNaN(ceil) {
		ceil = float64(c.o.MaxDelay)
	}
	return time.Duration(rand.Int64N(int64(ceil)))
}

// finish stops the client and hands what it could not deliver back to
// the application, in the last event.
func (c *Client) finish(s Status, err error) {
	c.mu.Lock()
	c.status = s
	c.err = err
	c.cc = nil
	unsent := c.out
	c.out, c.outBytes = nil, 0
	c.wakeSenders()
	c.mu.Unlock()
	c.cancel()
	if s == StatusFailed {
		c.log.Debug("tether client: failed", "err", err, "unsent", len(unsent))
		c.emit(Failed{Err: err, Unsent: unsent})
	} else {
		c.emit(Closed{Unsent: unsent})
	}
	close(c.ended)
}

// adopt applies a Welcome: resume bookkeeping or a new session.
func (c *Client) adopt(cc *cconn, w *wire.Welcome) {
	var evs []Event
	c.mu.Lock()
	if w.MaxSize > 0 {
		c.maxSize = int(w.MaxSize)
	}
	cc.st.SetWindow(w.Window) // the server's replay bound: our acks go before half of it
	c.hbLimit = time.Duration(w.Heartbeat+w.Timeout) * time.Millisecond
	c.token, c.epoch = w.Token, w.Epoch
	c.features = w.Features
	if c.features&wire.FeatureRooms == 0 {
		c.failHistory(ErrNoRooms)
	}
	if w.Resumed() {
		c.ackUpTo(w.Recv)
		cc.st.Resume(w.Recv, c.counts.Out())
		evs = append(evs, Resumed{SessionID: c.sessionID, ToClient: int(w.Replay), FromClient: int(c.counts.Out() - w.Recv)})
	} else {
		if c.sessionID != "" {
			evs = append(evs, c.lose(w))
		}
		c.gen++
		c.sessionID = w.SessionID
		for i := range c.out {
			c.out[i].Seq = uint64(i + 1)
		}
		c.counts.Restore(0, uint64(len(c.out)), 0)
		c.written = 0
		cc.st.Resume(0, c.counts.Out())
		evs = append(evs, Connected{SessionID: w.SessionID})
	}
	c.haveFinal, c.hinted = false, false
	cc.gen = c.gen
	cc.st.Acks.Start(c.counts.Processed()) // the first frame (confirm) acknowledges it
	c.cc = cc
	c.status = StatusConnected
	c.mu.Unlock()
	for _, ev := range evs {
		c.emit(ev)
	}
}

// lose works out what a lost session took with it and keeps in the outbox
// only the messages the old session certainly never processed; c.mu held.
func (c *Client) lose(w *wire.Welcome) SessionLost {
	l := SessionLost{Loss: tether.Loss{SessionID: c.sessionID, Reason: tether.LossReason(w.Reason), ToClient: -1}}
	keepAfter := c.written
	if w.PrevKnown() {
		if w.PrevOut >= c.counts.In() {
			l.InRooms = int64(w.PrevRooms)
			l.ToClient = max(0, int64(w.PrevOut-c.counts.In())-l.InRooms)
		}
		keepAfter = w.PrevIn
	} else if c.haveFinal {
		// The server drained the old session: its final ack covers every
		// message it processed, and it processed none after (§10).
		if c.finalOut >= c.counts.In() {
			l.ToClient = int64(c.finalOut - c.counts.In())
		}
		keepAfter = c.counts.LastAcked()
	}
	var keep []tether.Message
	for _, m := range c.out {
		switch {
		case m.Seq > keepAfter:
			keep = append(keep, m)
		case !w.PrevKnown() && m.Seq > c.counts.LastAcked():
			l.Unsent = append(l.Unsent, m)
		}
	}
	c.outBytes = 0
	for _, m := range keep {
		c.outBytes += len(m.Data)
	}
	c.out = keep
	l.FromClient = int64(len(l.Unsent))
	l.Carried = int64(len(keep))
	c.wakeSenders()
	c.log.Debug("tether client: session lost", "session", l.SessionID, "reason", l.Reason.String(),
		"lost_to_client", l.ToClient, "unsent", l.FromClient, "carried", l.Carried)
	return l
}
