// Package webhook delivers session lifecycle events to an application's
// HTTP backend: signed, idempotent, retried with backoff, bounded in
// flight, and in order per session.
//
// # Wire format
//
// Each event is one HTTP request:
//
//	POST <Config.URL>
//	Content-Type: application/json
//	Tether-Event: <type>                 (open, message, disconnect, resume, close, readmit, room_recovery, presence)
//	Tether-Idempotency-Key: <event id>   (the same on every retry of an event)
//	Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>
//
//	<the Event as JSON>
//
// The signature is Stripe-style: v1 is the lowercase hex HMAC-SHA256,
// keyed with Config.Secret, of the timestamp t in decimal, a full stop
// and the raw request body:
//
//	v1 = hex(HMAC-SHA256(secret, "<t>.<body>"))
//
// A receiver recomputes it over the bytes it received, compares it in
// constant time, and rejects a t more than 5 minutes from its clock: the
// timestamp is covered by the signature, so a captured request cannot be
// replayed later. Retries are signed again with a fresh t; their body and
// idempotency key are unchanged, so a receiver dedupes on the key.
//
// An event body looks like:
//
//	{"type":"message","id":"…","time":"2025-01-02T03:04:05.678Z",
//	 "session":"…","user":"alice",
//	 "message":{"seq":7,"type":"text","text":"hello"}}
//
// Binary message payloads are in "data", base64. See Event for every field.
//
// The answer decides what happens next:
//
//   - 2xx: accepted. For a "message" event the body may be a Reply, JSON
//     {"messages":[{"type":"text","text":"…"},{"type":"binary","data":"<base64>"}]},
//     the messages to send back to that session; an empty body means none.
//     For another event sent with Deliver (the standalone server's
//     "readmit"), Reply.Body is the body, for the caller to read.
//   - 408, 429, 5xx, a timeout or a transport error: retried with
//     exponential backoff and full jitter. A Retry-After header (seconds or
//     an HTTP date) on a 429 or 503 sets the delay instead, capped at
//     Config.MaxBackoff.
//   - Any other status (other 4xx, and 3xx: redirects are not followed):
//     a permanent rejection, never retried. Notify logs it and counts a
//     failure; Deliver returns an error wrapping ErrRejected.
//
// # Ordering and resources
//
// Events of one session are delivered one at a time, in the order they
// were queued: an event being retried holds back the later events of its
// session, and only those. Each session with queued events has one
// goroutine, which exits (and its queue is freed) as soon as the queue is
// empty; an idle session costs nothing. Config.MaxInFlight bounds the
// requests in flight over all sessions; a request waiting for its backoff
// does not count.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors.
var (
	// ErrRejected is wrapped by the error Deliver returns when the
	// backend refused an event for good (a 4xx other than 408 and 429, or
	// a 3xx). The error's text gives the status and the start of the body.
	ErrRejected = errors.New("webhook: event rejected by the backend")
	// ErrClosed is returned by Deliver once Close has been called.
	ErrClosed = errors.New("webhook: dispatcher closed")
)

// typeMessage is the type of events that carry a client message.
const typeMessage = "message"

// Config configures a Dispatcher. Every zero field means its documented
// default; URL and Secret are required.
type Config struct {
	URL            string        // backend endpoint; events are POSTed as JSON
	Secret         []byte        // HMAC-SHA256 key; required
	Timeout        time.Duration // per request; zero means 5s
	MaxInFlight    int           // concurrent requests over all sessions; zero means 64
	MaxQueue       int           // events waiting per session; zero means 1024 (Notify beyond it drops the oldest NON-message event and counts a failure; Deliver beyond it waits)
	InitialBackoff time.Duration // zero means 100ms
	MaxBackoff     time.Duration // zero means 10s; retries use exponential backoff with full jitter
	MaxRetryTime   time.Duration // Notify'd events are given up after this long, with a logged error and a failure count; zero means 1h. Deliver retries until its ctx ends.
	Client         *http.Client  // nil means a client with Timeout
	Logger         *slog.Logger  // nil means slog.Default()
	// OnAttempt, if set, is called after every attempt (for metrics), on
	// the session's delivery goroutine, never under a lock. status is 0 on
	// transport errors; err is nil for a 2xx.
	OnAttempt func(ev *Event, status int, err error)
}

// Event is one session lifecycle event, the JSON body of a request.
type Event struct {
	Type     string            `json:"type"`              // "open", "message", "disconnect", "resume", "close", "readmit", "room_recovery", "presence"
	ID       string            `json:"id"`                // idempotency key, unique per event; also sent as header Tether-Idempotency-Key
	Time     time.Time         `json:"time"`              // when it happened
	Session  string            `json:"session"`           // the session ID; events of one session are delivered in order
	User     string            `json:"user,omitempty"`    // the authenticated user ID
	Message  *Message          `json:"message,omitempty"` // for "message"
	Cause    string            `json:"cause,omitempty"`   // for "disconnect" and "close": tether.Cause.String()
	Error    string            `json:"error,omitempty"`
	Counts   map[string]int64  `json:"counts,omitempty"` // e.g. resume: {"replayed_to_client":3,"replayed_from_client":1}; open after a failed resume: {"lost_to_client":-1,...}; close: {"unacked":2}
	Reason   string            `json:"reason,omitempty"` // open after a failed resume: tether.LossReason.String(); room_recovery: the room's loss reason
	Room     *string           `json:"room,omitempty"`   // readmit, room_recovery, presence: the room ("" is the user's own stream)
	Recovery *RoomRecovery     `json:"recovery,omitempty"`
	Presence string            `json:"presence,omitempty"` // presence: "join" or "leave"
	Meta     map[string]string `json:"meta,omitempty"`
}

// RoomRecovery is what a client that lost its session got back of a room
// it was in (event "room_recovery").
type RoomRecovery struct {
	Readmitted bool   `json:"readmitted"` // false: the client is not in the room any more; the counts are 0
	Recovered  int    `json:"recovered"`  // messages replayed to the client, in order, before newer ones
	Skipped    int    `json:"skipped"`    // messages still in history but beyond the recovery limit (the oldest)
	Lost       *int64 `json:"lost"`       // messages history no longer held; null: unknown
}

// Message is an application message, in an Event or a Reply.
type Message struct {
	Seq  uint64 `json:"seq"`
	Type string `json:"type"`           // "text" or "binary"
	Text string `json:"text,omitempty"` // text messages
	Data []byte `json:"data,omitempty"` // binary messages (base64 in JSON)
}

// Reply is the backend's optional answer to a "message" event: messages
// to send back to that session. For another event sent with Deliver, Body
// holds the answer's body (at most 1 MiB) for the caller to read.
type Reply struct {
	Messages []Message `json:"messages"` // Seq ignored
	Body     []byte    `json:"-"`
}

// Lost names an event the Dispatcher gave up because it was closing:
// queued when Close ran out of time, or notified after Close.
type Lost struct {
	Type    string // the event's type
	ID      string // its idempotency key, "<session>:<event>"
	Session string
}

// CloseError is what Close returns when it ran out of time. Lost lists,
// in the order they were given up, the events notified with Notify that
// never reached the backend (an event awaited with Deliver is not in it:
// its caller got the error). It wraps ctx's error.
type CloseError struct {
	Lost []Lost
	Err  error
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("webhook: close: %d events given up: %v", len(e.Lost), e.Err)
}

func (e *CloseError) Unwrap() error { return e.Err }

// Stats is a snapshot of a Dispatcher's counters.
type Stats struct {
	Queued    int    // events queued and not yet delivered or given up (the one being attempted included)
	InFlight  int    // requests in flight
	Delivered uint64 // events the backend accepted
	Failures  uint64 // events given up: rejected, out of retry time or ctx, dropped on overflow, or notified after Close
	Retries   uint64 // attempts after an event's first
}

// Dispatcher queues events and delivers them. Its methods are safe for
// concurrent use.
type Dispatcher struct {
	url         string
	secret      []byte
	timeout     time.Duration
	maxQueue    int
	initBackoff time.Duration
	maxBackoff  time.Duration
	maxRetry    time.Duration
	client      *http.Client
	ownClient   bool
	log         *slog.Logger
	onAttempt   func(*Event, int, error)

	sem     chan struct{} // one token per request in flight
	base    context.Context
	abort   context.CancelFunc // cancels base: Close ran out of time
	closing chan struct{}      // closed by Close
	wg      sync.WaitGroup     // session goroutines

	mu       sync.Mutex
	sessions map[string]*queue
	queued   int
	closed   bool
	lost     []Lost // Notify'd events given up since Close began

	inFlight  atomic.Int64
	delivered atomic.Uint64
	failures  atomic.Uint64
	retries   atomic.Uint64
}

// queue holds one session's pending events. It exists while it holds
// events, and so does its goroutine; items[0] is the one being delivered.
type queue struct {
	items []*item
	space chan struct{} // closed when an item leaves; made by a waiting Deliver
}

type item struct {
	ev   *Event
	body []byte
	ctx  context.Context // Deliver's; nil for Notify
	done chan result     // Deliver's, buffered; nil for Notify
}

type result struct {
	reply *Reply
	err   error
}

const (
	maxReplyBytes = 1 << 20 // bigger replies are ignored
	snippetBytes  = 256     // of a rejection's body, in its error
	drainBytes    = 64 << 10
)

// New validates cfg and returns a Dispatcher. Errors name the faulty field.
func New(cfg Config) (*Dispatcher, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		return nil, errors.New("webhook: Config.URL is required")
	case err != nil:
		return nil, fmt.Errorf("webhook: Config.URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("webhook: Config.URL %q: scheme must be http or https", cfg.URL)
	case u.Host == "":
		return nil, fmt.Errorf("webhook: Config.URL %q: must be absolute, with a host", cfg.URL)
	case len(cfg.Secret) == 0:
		return nil, errors.New("webhook: Config.Secret is required")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Timeout", int64(cfg.Timeout)},
		{"MaxInFlight", int64(cfg.MaxInFlight)},
		{"MaxQueue", int64(cfg.MaxQueue)},
		{"InitialBackoff", int64(cfg.InitialBackoff)},
		{"MaxBackoff", int64(cfg.MaxBackoff)},
		{"MaxRetryTime", int64(cfg.MaxRetryTime)},
	} {
		if f.v < 0 {
			return nil, fmt.Errorf("webhook: Config.%s is negative", f.name)
		}
	}
	d := &Dispatcher{
		url:         cfg.URL,
		secret:      bytes.Clone(cfg.Secret),
		timeout:     orDur(cfg.Timeout, 5*time.Second),
		maxQueue:    orInt(cfg.MaxQueue, 1024),
		initBackoff: orDur(cfg.InitialBackoff, 100*time.Millisecond),
		maxBackoff:  orDur(cfg.MaxBackoff, 10*time.Second),
		maxRetry:    orDur(cfg.MaxRetryTime, time.Hour),
		client:      cfg.Client,
		log:         cfg.Logger,
		onAttempt:   cfg.OnAttempt,
		sem:         make(chan struct{}, orInt(cfg.MaxInFlight, 64)),
		closing:     make(chan struct{}),
		sessions:    make(map[string]*queue),
	}
	if d.maxBackoff < d.initBackoff {
		return nil, fmt.Errorf("webhook: Config.MaxBackoff (%v) is less than Config.InitialBackoff (%v)", d.maxBackoff, d.initBackoff)
	}
	if d.client == nil {
		// A transport of its own, so Close can drop its idle connections
		// without touching anybody else's.
		d.client = &http.Client{
			Timeout:   d.timeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			// A redirect is a misconfigured URL: POSTs turned into GETs
			// would be "accepted" without reaching the application.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		d.ownClient = true
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	d.base, d.abort = context.WithCancel(context.Background())
	return d, nil
}

func orDur(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// Notify queues ev for delivery in the background, after every event
// queued before it for the same ev.Session. An empty ev.ID is filled with
// a random one and a zero ev.Time with the current time; ev must not be
// changed afterwards.
//
// When the session already has MaxQueue events waiting, the oldest
// waiting event that is not a "message" (and not awaited by Deliver) is
// dropped to make room; if there is none, ev itself is dropped. Either
// way the drop is logged and counted as a failure. Notify after Close
// drops ev the same way.
func (d *Dispatcher) Notify(ev *Event) {
	it, err := d.prepare(ev)
	if err != nil {
		d.fail(ev, "event dropped: cannot encode", err)
		return
	}
	d.mu.Lock()
	if d.closed {
		d.lost = append(d.lost, Lost{Type: ev.Type, ID: ev.ID, Session: ev.Session})
		d.mu.Unlock()
		d.fail(ev, "event dropped", ErrClosed)
		return
	}
	var dropped *Event
	if q := d.sessions[ev.Session]; q != nil && len(q.items) >= d.maxQueue {
		dropped = ev
		// items[0] is being delivered: it stays.
		for i := 1; i < len(q.items); i++ {
			if o := q.items[i]; o.done == nil && o.ev.Type != typeMessage {
				dropped = o.ev
				copy(q.items[i:], q.items[i+1:])
				q.items[len(q.items)-1] = nil
				q.items = q.items[:len(q.items)-1]
				d.queued--
				break
			}
		}
	}
	if dropped != ev {
		d.push(it)
	}
	d.mu.Unlock()
	if dropped != nil {
		d.fail(dropped, "event dropped: session queue full", fmt.Errorf("more than %d events waiting", d.maxQueue))
	}
}

// Deliver queues ev like Notify and waits until it is delivered, after
// every earlier event of its session. It retries until the backend
// accepts ev or ctx ends, and returns the backend's Reply (never nil on
// success: empty when the body was). A permanent refusal returns an
// error wrapping ErrRejected, and Close an error wrapping ErrClosed. When
// the session already has MaxQueue events waiting, Deliver waits for room.
//
// A malformed or oversized reply body is logged and read as an empty
// Reply: the event itself was accepted. Reply messages whose type is
// neither "text" nor "binary" are dropped with a warning.
func (d *Dispatcher) Deliver(ctx context.Context, ev *Event) (*Reply, error) {
	it, err := d.prepare(ev)
	if err != nil {
		d.failures.Add(1)
		return nil, fmt.Errorf("webhook: failed to encode %s event: %w", ev.Type, err)
	}
	if err := ctx.Err(); err != nil {
		d.failures.Add(1)
		return nil, fmt.Errorf("webhook: %s event %s not delivered: %w", ev.Type, ev.ID, err)
	}
	it.ctx = ctx
	it.done = make(chan result, 1)
	d.mu.Lock()
	for {
		if d.closed {
			d.mu.Unlock()
			return nil, ErrClosed
		}
		q := d.sessions[ev.Session]
		if q == nil || len(q.items) < d.maxQueue {
			break
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		d.mu.Unlock()
		select {
		case <-space:
		case <-d.closing:
		case <-ctx.Done():
			d.failures.Add(1)
			return nil, fmt.Errorf("webhook: %s event for session %s still waiting for room in its queue: %w", ev.Type, ev.Session, ctx.Err())
		}
		d.mu.Lock()
	}
	d.push(it)
	d.mu.Unlock()
	select {
	case r := <-it.done:
		return r.reply, r.err
	case <-ctx.Done():
		select {
		case r := <-it.done: // finished at the same moment: report what happened
			return r.reply, r.err
		default:
		}
		// The session goroutine skips it, or its request is cancelled,
		// and counts the failure.
		return nil, fmt.Errorf("webhook: %s event %s not delivered: %w", ev.Type, ev.ID, ctx.Err())
	}
}

// prepare fills in ev's ID and Time and encodes it.
func (d *Dispatcher) prepare(ev *Event) (*item, error) {
	if ev.ID == "" {
		ev.ID = crand.Text()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return &item{ev: ev, body: body}, nil
}

// push appends it to its session's queue and starts the session's
// goroutine if the queue was empty. d.mu is held.
func (d *Dispatcher) push(it *item) {
	key := it.ev.Session
	q := d.sessions[key]
	if q == nil {
		q = &queue{}
		d.sessions[key] = q
	}
	q.items = append(q.items, it)
	d.queued++
	if len(q.items) == 1 {
		d.wg.Add(1)
		go d.drain(key, q)
	}
}

// drain delivers q's events in order and exits when q is empty, deleting
// it in the same critical section, so a push never finds an empty queue
// that still has a goroutine.
func (d *Dispatcher) drain(key string, q *queue) {
	defer d.wg.Done()
	d.mu.Lock()
	it := q.items[0]
	d.mu.Unlock()
	for {
		d.process(it)

		d.mu.Lock()
		q.items[0] = nil
		q.items = q.items[1:]
		d.queued--
		if q.space != nil {
			close(q.space)
			q.space = nil
		}
		if len(q.items) == 0 {
			delete(d.sessions, key)
			d.mu.Unlock()
			return
		}
		it = q.items[0]
		d.mu.Unlock()
	}
}

// process delivers one event, with retries, and reports its fate.
func (d *Dispatcher) process(it *item) {
	ev := it.ev
	ctx, release := d.eventCtx(it)
	defer release()
	var (
		start    time.Time
		deadline time.Time // Notify only
		timer    *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			d.giveUp(it, attempt-1, err)
			return
		}
		if attempt > 1 {
			d.retries.Add(1)
		}
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			d.giveUp(it, attempt-1, ctx.Err())
			return
		}
		if attempt == 1 {
			start = time.Now()
			if it.ctx == nil {
				deadline = start.Add(d.maxRetry)
			}
		}
		d.inFlight.Add(1)
		o := d.attempt(ctx, it)
		d.inFlight.Add(-1)
		<-d.sem
		if d.settle(it, o, attempt) {
			return
		}
		if err := ctx.Err(); err != nil { // the attempt failed because ctx ended
			d.giveUp(it, attempt, err)
			return
		}
		delay := o.retryAfter
		if delay <= 0 {
			delay = d.backoff(attempt)
		}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				d.giveUp(it, attempt, fmt.Errorf("retried for %v (MaxRetryTime): %w", time.Since(start).Round(time.Millisecond), o.err))
				return
			}
			delay = min(delay, left) // one last attempt at the deadline
		}
		lvl := slog.LevelDebug
		if attempt == 1 {
			lvl = slog.LevelWarn
		}
		d.log.Log(ctx, lvl, "webhook: delivery failed, will retry", "type", ev.Type, "id", ev.ID, "session", ev.Session, "attempt", attempt, "status", o.status, "err", o.err, "delay", delay)
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			d.giveUp(it, attempt, ctx.Err())
			return
		}
	}
}

// eventCtx is the context an event is delivered under: Deliver's
// caller's, also ended by Close running out of time; the dispatcher's
// for Notify. Call release when done.
func (d *Dispatcher) eventCtx(it *item) (ctx context.Context, release func()) {
	if it.ctx == nil {
		return d.base, func() {}
	}
	ctx, cancel := context.WithCancel(it.ctx)
	stop := context.AfterFunc(d.base, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// settle counts an attempt's outcome and reports it; it returns true
// once the event's fate is decided: delivered, or refused for good.
func (d *Dispatcher) settle(it *item, o outcome, attempt int) bool {
	ev := it.ev
	switch {
	case o.err == nil:
		d.delivered.Add(1)
	case !o.retry:
		d.failures.Add(1)
	}
	if d.onAttempt != nil { // after the counters: Stats agrees with it
		d.onAttempt(ev, o.status, o.err)
	}
	switch {
	case o.err == nil:
		d.log.Debug("webhook: event delivered", "type", ev.Type, "id", ev.ID, "session", ev.Session, "attempts", attempt, "status", o.status)
		if it.done != nil {
			it.done <- result{reply: o.reply}
		}
		return true
	case !o.retry:
		d.log.Error("webhook: event rejected by the backend, not retried", "type", ev.Type, "id", ev.ID, "session", ev.Session, "status", o.status, "err", o.err)
		if it.done != nil {
			it.done <- result{err: o.err}
		}
		return true
	}
	return false
}

// backoff returns the delay after the attempt-th failed attempt:
// uniformly random in [0, min(MaxBackoff, InitialBackoff·2^(attempt-1))].
func (d *Dispatcher) backoff(attempt int) time.Duration {
	ceil := d.initBackoff
	for i := 1; i < attempt && ceil < d.maxBackoff; i++ {
		if ceil > d.maxBackoff/2 {
			ceil = d.maxBackoff
			break
		}
		ceil *= 2
	}
	return rand.N(min(ceil, d.maxBackoff) + 1)
}

// giveUp records an event that will not be delivered.
func (d *Dispatcher) giveUp(it *item, attempts int, err error) {
	d.failures.Add(1)
	ev := it.ev
	if it.done != nil {
		if errors.Is(err, context.Canceled) && d.base.Err() != nil && it.ctx.Err() == nil {
			err = ErrClosed
		}
		it.done <- result{err: fmt.Errorf("webhook: %s event %s not delivered after %d attempts: %w", ev.Type, ev.ID, attempts, err)}
		// The caller may be gone (its ctx ended): Debug, it has the error.
		d.log.Debug("webhook: event not delivered", "type", ev.Type, "id", ev.ID, "session", ev.Session, "attempts", attempts, "err", err)
		return
	}
	if d.base.Err() != nil {
		err = fmt.Errorf("%w before delivery (Close ran out of time): %w", ErrClosed, err)
		d.mu.Lock()
		d.lost = append(d.lost, Lost{Type: ev.Type, ID: ev.ID, Session: ev.Session})
		d.mu.Unlock()
	}
	d.log.Error("webhook: event given up", "type", ev.Type, "id", ev.ID, "session", ev.Session, "attempts", attempts, "err", err)
}

// fail records an event dropped without an attempt.
func (d *Dispatcher) fail(ev *Event, msg string, err error) {
	d.failures.Add(1)
	d.log.Error("webhook: "+msg, "type", ev.Type, "id", ev.ID, "session", ev.Session, "err", err)
}

// outcome is what one attempt came to.
type outcome struct {
	status     int
	reply      *Reply
	err        error         // nil when accepted
	retry      bool          // err is worth retrying
	retryAfter time.Duration // from a Retry-After header, capped
}

// attempt makes one signed request.
func (d *Dispatcher) attempt(ctx context.Context, it *item) outcome {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(it.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tether-webhook/1")
	req.Header.Set("Tether-Event", it.ev.Type)
	req.Header.Set("Tether-Idempotency-Key", it.ev.ID)
	req.Header.Set("Tether-Signature", sign(d.secret, time.Now(), it.body))
	resp, err := d.client.Do(req)
	if err != nil {
		return outcome{err: err, retry: true}
	}
	defer resp.Body.Close()
	o := outcome{status: resp.StatusCode}
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		o.reply = d.readReply(it.ev, resp, it.done != nil)
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		o.retry = true
		o.err = fmt.Errorf("backend answered %s", resp.Status)
		if c == http.StatusTooManyRequests || c == http.StatusServiceUnavailable {
			o.retryAfter = d.retryAfter(resp.Header.Get("Retry-After"))
		}
	default:
		snip, _ := io.ReadAll(io.LimitReader(resp.Body, snippetBytes))
		o.err = fmt.Errorf("%w: %s: %q", ErrRejected, resp.Status, strings.ToValidUTF8(string(snip), "\uFFFD"))
	}
	// Read what is left (within reason) so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	return o
}

// readReply reads a 2xx body: the messages of a "message" event's reply,
// or, for another event a caller awaits (Deliver), the raw body.
func (d *Dispatcher) readReply(ev *Event, resp *http.Response, awaited bool) *Reply {
	r := &Reply{}
	if ev.Type != typeMessage && !awaited {
		return r
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		d.log.Warn("webhook: failed to read the reply", "type", ev.Type, "id", ev.ID, "session", ev.Session, "err", err)
		return r
	}
	if len(body) > maxReplyBytes {
		d.log.Warn("webhook: reply ignored: too big", "id", ev.ID, "session", ev.Session, "limit", maxReplyBytes)
		return r
	}
	if ev.Type != typeMessage {
		r.Body = body
		return r
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return r
	}
	var got Reply
	if err := json.Unmarshal(body, &got); err != nil {
		d.log.Warn("webhook: reply ignored: not a JSON Reply", "id", ev.ID, "session", ev.Session, "err", err, "body", snippet(body))
		return r
	}
	for _, m := range got.Messages {
		if m.Type != "text" && m.Type != "binary" {
			d.log.Warn("webhook: reply message dropped: type must be text or binary", "id", ev.ID, "session", ev.Session, "message_type", m.Type)
			continue
		}
		m.Seq = 0
		r.Messages = append(r.Messages, m)
	}
	return r
}

func snippet(b []byte) string {
	if len(b) > snippetBytes {
		b = b[:snippetBytes]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// retryAfter parses a Retry-After header, capped at MaxBackoff; 0 if absent.
func (d *Dispatcher) retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var wait time.Duration
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		wait = d.maxBackoff
		if s < int64(d.maxBackoff/time.Second)+1 {
			wait = time.Duration(s) * time.Second
		}
	} else if t, err := http.ParseTime(h); err == nil {
		wait = time.Until(t)
	}
	return max(0, min(wait, d.maxBackoff))
}

// sign returns the Tether-Signature header value for body at time t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
func sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Stats returns the current counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	q := d.queued
	d.mu.Unlock()
	return Stats{
		Queued:    q,
		InFlight:  int(d.inFlight.Load()),
		Delivered: d.delivered.Load(),
		Failures:  d.failures.Load(),
		Retries:   d.retries.Load(),
	}
}

// Close stops accepting events and waits until every queued event is
// delivered or given up. If ctx ends first, requests in flight are
// cancelled and what is left is given up (each logged, counted as a
// failure; waiting Delivers return ErrClosed), and Close returns a
// *CloseError naming every Notify'd event given up, once every goroutine
// of the Dispatcher has exited. So does a Close that finds events
// notified after an earlier Close. Close may be called more than once.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.closing)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	var cause error
	select {
	case <-done:
	case <-ctx.Done():
		d.abort()
		<-done
		cause = ctx.Err()
	}
	d.abort()
	if d.ownClient {
		d.client.CloseIdleConnections()
	}
	d.mu.Lock()
	lost := slices.Clone(d.lost)
	d.mu.Unlock()
	if cause == nil && len(lost) > 0 {
		cause = ErrClosed
	}
	if cause != nil {
		return &CloseError{Lost: lost, Err: cause}
	}
	return nil
}
