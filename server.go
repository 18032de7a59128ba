package tether

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	gobwas "github.com/gobwas/ws"

	"github.com/tether-ws/tether/internal/wire"
	"github.com/tether-ws/tether/internal/ws"
)

// Server accepts Tether clients and keeps their sessions.
type Server struct {
	o     Options
	store Store
	log   *slog.Logger
	test  testSwitches // zero but in tests

	ctx    context.Context // given to hooks; cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	mu       serverMutex
	sessions map[string]*Session
	conns    map[*conn]struct{}
	draining bool
	final    bool          // draining, second phase: no more Sends
	drained  chan struct{} // closed when draining and no connection is left
	active   tracker       // goroutines Shutdown waits for
	done     chan struct{} // closed when Shutdown starts
	cluster  Cluster       // the store, when it is shared; nil otherwise
	pl       poller        // reads connections without a goroutine each (poll.go)
	cl       clusterState
	hb       heartbeats // every connection's heartbeat check, on one timer

	// answerWait is how long a draining connection's client has to
	// answer the GoAway before it is fenced (shutdown.go); srv.mu.
	answerWait time.Duration
}

// NewServer returns a Server configured by opts (nil means defaults).
func NewServer(opts *Options) *Server {
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{
		o:        o,
		store:    o.Store,
		log:      o.Logger,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[string]*Session),
		conns:    make(map[*conn]struct{}),
		done:     make(chan struct{}),
		test:     switchesOf(opts),
	}
	if breakHook != nil {
		breakHook(&srv.o, &srv.test)
	}
	srv.startCluster()
	return srv
}

// spawn runs fn on a goroutine that Shutdown waits for.
func (srv *Server) spawn(fn func()) {
	srv.active.add()
	go func() {
		defer srv.active.done()
		fn()
	}()
}

// Session returns the session with this ID held by this server, or nil.
func (srv *Server) Session(id string) *Session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.sessions[id]
}

// Sessions calls fn for each session held by this server until fn
// returns false. fn must not block: the server's session table is
// snapshotted first, so fn may call Session methods.
func (srv *Server) Sessions(fn func(*Session) bool) {
	srv.mu.Lock()
	list := make([]*Session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		list = append(list, s)
	}
	srv.mu.Unlock()
	for _, s := range list {
		if !fn(s) {
			return
		}
	}
}

// Len reports how many sessions this server holds.
func (srv *Server) Len() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.sessions)
}

// ServeHTTP upgrades the request to a Tether connection.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	originOK := srv.originAllowed(r)
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "tether: this endpoint speaks WebSocket with subprotocol "+wire.Subprotocol, http.StatusUpgradeRequired)
		return
	}
	offered := offersSubprotocol(r)
	if !offered && len(r.Header.Values("Sec-WebSocket-Protocol")) > 0 {
		// The client wants other subprotocols; selecting none would fail its
		// handshake anyway, so say why in plain HTTP.
		http.Error(w, "tether: unsupported subprotocol; this server speaks "+wire.Subprotocol, http.StatusBadRequest)
		return
	}
	up := gobwas.HTTPUpgrader{
		Timeout:  srv.o.HandshakeTimeout,
		Protocol: func(p string) bool { return p == wire.Subprotocol },
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		srv.log.Debug("tether: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	wc := ws.NewConn(nc, false, srv.o.MaxMessageSize+16, buffered(rw))
	if !offered {
		srv.refuse(wc, wire.CloseUnsupported, "tether: offer WebSocket subprotocol "+wire.Subprotocol)
		return
	}
	if !originOK {
		// Refused after the upgrade so that a browser sees why (a plain
		// HTTP 403 looks like a network error to it) and stops retrying.
		srv.log.Info("tether: origin refused", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		srv.refuse(wc, wire.CloseForbidden, "tether: origin not allowed")
		return
	}
	if srv.isDraining() {
		srv.refuse(wc, wire.CloseServerRestart, "tether: server restarting")
		return
	}
	user := ""
	if srv.o.Authenticate != nil {
		u, err := srv.o.Authenticate(r)
		if err != nil {
			code := wire.CloseUnauthorized
			if errors.Is(err, ErrForbidden) {
				code = wire.CloseForbidden
			}
			srv.log.Info("tether: connection refused", "remote", r.RemoteAddr, "code", uint16(code), "err", err)
			srv.refuse(wc, code, err.Error())
			return
		}
		user = u
	}
	// One deadline bounds the whole handshake: Hello, store calls, Welcome.
	ctx, cancel := context.WithTimeout(srv.ctx, srv.o.HandshakeTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	_ = nc.SetReadDeadline(dl)
	hello := srv.readHello(wc, r)
	if hello == nil {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	srv.accept(ctx, wc, r, user, hello)
}

// readHello reads the client's Hello; on anything else it closes the
// connection, with the reason when there is one, and returns nil.
func (srv *Server) readHello(wc *ws.Conn, r *http.Request) *wire.Hello {
	var hello *wire.Hello
	err := wc.ReadMessage(func(op byte, p []byte) error {
		if op != ws.OpBinary {
			return violationf("text WebSocket frame; Tether frames are binary")
		}
		f, err := wire.Decode(p)
		if err != nil {
			return err
		}
		if f.Type != wire.TypeHello {
			return violationf("expected hello, got %s", f.Type)
		}
		hello = f.Hello
		return errStop
	})
	if !errors.Is(err, errStop) {
		srv.log.Debug("tether: no hello", "remote", r.RemoteAddr, "err", err)
		var ce *ws.CloseError
		code, _ := classifyReadErr(err)
		switch {
		case errors.As(err, &ce):
			_ = wc.EchoClose(ce)
			wc.Close()
			wc.Drop()
		case code != 0:
			srv.refuse(wc, code, closeReason(err))
		default:
			srv.refuse(wc, wire.CloseProtocolViolation, "tether: no hello within the handshake timeout")
		}
		return nil
	}
	return hello
}

var errStop = errors.New("stop")

// buffered returns bytes the HTTP server read past the upgrade request.
func buffered(rw *bufio.ReadWriter) []byte {
	if rw == nil || rw.Reader.Buffered() == 0 {
		return nil
	}
	p, _ := rw.Reader.Peek(rw.Reader.Buffered())
	return append([]byte(nil), p...)
}

func offersSubprotocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == wire.Subprotocol {
				return true
			}
		}
	}
	return false
}

func (srv *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range srv.o.OriginPatterns {
		if p == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// refuse closes a connection that never got a session.
func (srv *Server) refuse(wc *ws.Conn, code wire.CloseCode, reason string) {
	wc.Shutdown(uint16(code), reason, time.Second)
	srv.spawn(func() {
		wc.Discard()
		wc.Close()
	})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newToken() ([]byte, TokenHash) {
	t := make([]byte, 16)
	_, _ = rand.Read(t)
	return t, sha256.Sum256(t)
}

// accept turns a connection with a Hello into a new or resumed session.
func (srv *Server) accept(ctx context.Context, wc *ws.Conn, r *http.Request, user string, h *wire.Hello) {
	c := newConn(srv, wc)
	window := h.Window
	if window == 0 || window > 1<<16 {
		window = 1 << 16
	}
	c.st.SetWindow(window)
	var prev *Loss
	var tomb *Tombstone
	if h.SessionID != "" {
		s := srv.Session(h.SessionID)
		if s != nil && s.isMoved() {
			// Being handed to another server: let that finish, then take
			// it back from there.
			srv.awaitGone(ctx, s)
			s = nil
		}
		if s == nil && srv.cluster != nil {
			// Held by another server, or orphaned: take it over.
			var err error
			switch s, err = srv.adopt(ctx, h.SessionID, h.Attempt); {
			case errors.Is(err, errStale):
				srv.refuse(wc, wire.CloseSuperseded, "tether: a newer connection attempt holds the session")
				return
			case err == nil, errors.Is(err, ErrNotFound):
			default:
				srv.log.Warn("tether: cannot take a session over", "session", h.SessionID, "err", err)
				srv.refuse(wc, wire.CloseTryAgain, "tether: session busy on another server; try again")
				return
			}
		}
		if s != nil {
			code, reason := s.resume(ctx, c, user, h)
			if code == 0 {
				return
			}
			if code == closeDiverged {
				prev = &Loss{SessionID: h.SessionID, Reason: ReasonDiverged, ToClient: -1,
					FromClient: int64(h.Written - h.Acked), Carried: int64(h.Last - h.Written)}
				srv.open(ctx, c, r, user, h, prev, nil)
				return
			}
			if code != wire.CloseTryAgain || reason != "" {
				srv.refuse(wc, code, reason)
				return
			}
			// The session is closing: wait for its tombstone, then
			// open a new session that reports the loss.
			s.awaitBurial(ctx)
		}
		var err error
		prev, tomb, err = srv.lostSession(ctx, user, h)
		if err != nil {
			srv.log.Error("tether: store unavailable", "err", err)
			srv.refuse(wc, wire.CloseTryAgain, "tether: store unavailable")
			return
		}
	}
	srv.open(ctx, c, r, user, h, prev, tomb)
}

// lostSession explains why the session a client asked for is gone, with
// the tombstone when one matches the client's token and user.
func (srv *Server) lostSession(ctx context.Context, user string, h *wire.Hello) (*Loss, *Tombstone, error) {
	l := &Loss{SessionID: h.SessionID, ToClient: -1, FromClient: int64(h.Written - h.Acked), Carried: int64(h.Last - h.Written)}
	th := sha256.Sum256(h.Token)
	t, err := srv.store.Tombstone(ctx, h.SessionID)
	switch {
	case err == nil && t.UserID == user && (tokenEqual(th, t.Token) || tokenEqual(th, t.PrevToken)):
		l.Reason = t.Reason
		if t.Out >= h.Recv {
			l.InRooms = countInRooms(t, h.Recv)
			l.ToClient = int64(t.Out-h.Recv) - l.InRooms
		}
		l.FromClient, l.Carried = 0, 0
		if h.Last > t.In {
			l.Carried = int64(h.Last - t.In)
		}
		return l, t, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, nil, err
	}
	l.Reason = ReasonUnknown
	e, err := srv.store.Epoch(ctx)
	if err != nil {
		return nil, nil, err
	}
	if h.Epoch != "" && e != h.Epoch {
		l.Reason = ReasonRestarted
	}
	return l, nil, nil
}

// open starts a new session on c.
func (srv *Server) open(ctx context.Context, c *conn, r *http.Request, user string, h *wire.Hello, prev *Loss, tomb *Tombstone) {
	epoch, err := srv.store.Epoch(ctx)
	if err != nil {
		srv.log.Error("tether: store unavailable", "err", err)
		srv.refuse(c.ws, wire.CloseTryAgain, "tether: store unavailable")
		return
	}
	srv.mu.Lock()
	if srv.draining {
		srv.mu.Unlock()
		srv.refuse(c.ws, wire.CloseServerRestart, "tether: server restarting")
		return
	}
	if len(srv.sessions) >= srv.o.MaxSessions {
		srv.mu.Unlock()
		srv.log.Warn("tether: session limit reached", "max", srv.o.MaxSessions)
		srv.refuse(c.ws, wire.CloseTryAgain, "tether: server full")
		return
	}
	srv.mu.Unlock()
	if max := srv.o.MaxSessionsPerUser; max > 0 && user != "" && srv.userCount(ctx, user) >= max {
		srv.log.Warn("tether: sessions per user limit reached", "user", user, "max", max)
		srv.refuse(c.ws, wire.ClosePolicy, fmt.Sprintf("tether: user already has %d sessions", max))
		return
	}

	token, th := newToken()
	s := &Session{srv: srv, id: newID(), user: user, created: stampOf(time.Now()), token: th, lease: 1, attempt: h.Attempt,
		features: h.Features & wire.FeatureRooms, rejoin: srv.newRejoin(user, h, prev)}
	rec := &Record{
		ID: s.id, UserID: user, Token: th, Created: s.created.time(), Owner: srv.nodeName(), Attempt: h.Attempt,
		Features: s.features, MaxMessages: srv.o.MaxReplayMessages, MaxBytes: srv.o.MaxReplayBytes,
	}
	if err := srv.store.Create(ctx, rec); err != nil {
		srv.log.Error("tether: cannot create session", "err", err)
		srv.refuse(c.ws, wire.CloseTryAgain, "tether: store unavailable")
		return
	}
	wl := &wire.Welcome{SessionID: s.id, Token: token, Epoch: epoch, Features: s.features}
	if prev != nil {
		wl.Reason = wire.LossReason(prev.Reason)
		if tomb != nil {
			wl.Flags |= wire.WelcomePrevKnown
			wl.PrevIn, wl.PrevOut = tomb.In, tomb.Out
			if s.features&wire.FeatureRooms != 0 {
				wl.PrevRooms = uint64(max(prev.InRooms, 0))
			}
		}
	}
	srv.fillLimits(wl)
	c.s = s
	// The Welcome goes out once OnOpen returned (hooks.go): a room
	// joined there then has every message published after the client
	// was told it is connected.
	c.queueFrame(wire.AppendWelcome(nil, wl))

	srv.mu.Lock()
	if srv.draining {
		srv.mu.Unlock()
		_ = srv.store.Close(ctx, s.id, 0, nil)
		srv.refuse(c.ws, wire.CloseServerRestart, "tether: server restarting")
		return
	}
	srv.sessions[s.id] = s
	srv.conns[c] = struct{}{}
	srv.mu.Unlock()

	srv.adoptSocket(c) // before the hooks share c
	s.mu.Lock()
	s.life.Open(c)
	s.post(event{kind: evOpen, info: OpenInfo{Request: r, Previous: prev}})
	s.mu.Unlock()
	if prev != nil {
		srv.log.Info("tether: session not resumed", "session", prev.SessionID, "new_session", s.id, "user", user,
			"reason", prev.Reason.String(), "lost_to_client", prev.ToClient, "lost_from_client", prev.FromClient, "carried", prev.Carried,
			"in_rooms", prev.InRooms)
	}
	c.start()
}

// userCount counts a user's sessions on every server.
func (srv *Server) userCount(ctx context.Context, user string) int {
	ids, err := srv.store.UserSessions(ctx, user)
	if err != nil {
		return 0
	}
	return len(ids)
}

func (srv *Server) fillLimits(w *wire.Welcome) {
	w.Heartbeat = uint64(srv.o.HeartbeatInterval / time.Millisecond)
	w.Timeout = uint64(srv.o.HeartbeatTimeout / time.Millisecond)
	w.MaxSize = uint64(srv.o.MaxMessageSize)
	w.Window = uint64(srv.o.MaxReplayMessages)
	w.Grace = uint64(srv.o.GraceWindow / time.Millisecond)
}

func (srv *Server) removeSession(s *Session) {
	srv.mu.Lock()
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	srv.mu.Unlock()
}

// classifyReadErr maps a read error to the close code to send (0: none)
// and the cause it implies.
func classifyReadErr(err error) (wire.CloseCode, Cause) {
	var pe *ws.ProtocolError
	var ce *ws.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, errRateLimited):
		return wire.CloseRateLimited, CauseRateLimited
	case errors.Is(err, ws.ErrTooBig):
		return wire.CloseTooBig, CausePolicyViolation
	case errors.As(err, &pe), errors.Is(err, wire.ErrMalformed), errors.As(err, new(*violation)):
		return wire.CloseProtocolViolation, CauseProtocolViolation
	case errors.As(err, &ce):
		switch wire.CloseCode(ce.Code) {
		case wire.CloseDetach:
			return 0, CauseClientDetached
		case wire.CloseAbnormal:
			return 0, CauseNetworkLost
		}
		return 0, CauseClientClosed
	case errors.As(err, &ne) && ne.Timeout():
		return 0, CauseNetworkLost
	}
	return 0, CauseNetworkLost
}

// violation is a protocol violation found above the WebSocket layer.
type violation struct{ msg string }

func (v *violation) Error() string { return "protocol violation: " + v.msg }

func violationf(format string, args ...any) error {
	return &violation{fmt.Sprintf(format, args...)}
}
