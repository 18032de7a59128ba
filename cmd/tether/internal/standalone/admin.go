package standalone

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tether-ws/tether"
)

//go:embed admin
var adminAssets embed.FS

// adminTick is how often the page's live stream (SSE) sends a snapshot.
const adminTick = time.Second

// Bounds of the admin API's lists.
const (
	adminMaxSessions = 500 // sessions in one answer of the list
	adminMaxRooms    = 200 // rooms listed, the largest first
	adminMaxRecent   = 50  // recent events in a snapshot
	adminMaxMembers  = 500 // members listed for one room
)

// admin is the operator's page at /admin: a live overview of sessions,
// disconnect causes, resumes, replays and losses, a searchable session
// list with each session's lifecycle, a kick action, and the rooms.
type admin struct {
	srv    *tether.Server
	rec    *recorder
	auth   *adminAuth
	cfg    *Config
	log    *slog.Logger
	node   string
	mode   string     // development, jwt, …
	nodes  *nodeBoard // nil without Redis
	stop   <-chan struct{}
	mux    *http.ServeMux
	page   []byte // admin/index.html
	login  []byte // admin/login.html
	static fs.FS
}

func newAdmin(srv *tether.Server, rec *recorder, auth *adminAuth, cfg *Config, log *slog.Logger, node string, nodes *nodeBoard, stop <-chan struct{}) *admin {
	a := &admin{srv: srv, rec: rec, auth: auth, cfg: cfg, log: log, node: node, nodes: nodes, stop: stop, mux: http.NewServeMux()}
	a.static, _ = fs.Sub(adminAssets, "admin")
	a.page, _ = fs.ReadFile(a.static, "index.html")
	a.login, _ = fs.ReadFile(a.static, "login.html")
	a.mux.Handle("/admin", methods{http.MethodGet: a.index})
	a.mux.Handle("/admin/", methods{http.MethodGet: a.index})
	a.mux.Handle("/admin/login", methods{http.MethodGet: a.loginPage, http.MethodPost: a.signIn})
	a.mux.Handle("/admin/logout", methods{http.MethodPost: a.signedIn(a.signOut)})
	a.mux.Handle("/admin/static/{file}", methods{http.MethodGet: a.asset})
	a.mux.Handle("/admin/api/overview", methods{http.MethodGet: a.signedIn(a.overview)})
	a.mux.Handle("/admin/api/stream", methods{http.MethodGet: a.signedIn(a.stream)})
	a.mux.Handle("/admin/api/sessions", methods{http.MethodGet: a.signedIn(a.listSessions)})
	a.mux.Handle("/admin/api/sessions/{id}", methods{http.MethodGet: a.signedIn(a.sessionDetail)})
	a.mux.Handle("/admin/api/sessions/{id}/kick", methods{http.MethodPost: a.signedIn(a.kick)})
	a.mux.Handle("/admin/api/rooms", methods{http.MethodGet: a.signedIn(a.rooms)})
	a.mux.Handle("/admin/api/rooms/{room}", methods{http.MethodGet: a.signedIn(a.room)})
	a.mux.HandleFunc("/admin/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such admin route: "+r.Method+" "+r.URL.Path)
	})
	return a
}

func (a *admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	a.mux.ServeHTTP(w, r)
}

// signedIn lets signed-in requests through; others get 401. A POST also
// needs the CSRF token and a same-origin Origin (else 403).
func (a *admin) signedIn(next func(http.ResponseWriter, *http.Request, *adminSession)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := a.auth.session(r)
		if s == nil {
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in at /admin/login")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !checkCSRF(r, s) {
			writeError(w, http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token, or a request from another origin")
			return
		}
		next(w, r, s)
	}
}

func (a *admin) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/admin" && r.URL.Path != "/admin/" {
		http.NotFound(w, r)
		return
	}
	s := a.auth.session(r)
	if s == nil && a.auth.open {
		s = a.auth.signIn(w, r)
	}
	if s == nil {
		http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
		return
	}
	page := bytes.ReplaceAll(a.page, []byte("{{CSRF}}"), []byte(s.csrf))
	page = bytes.ReplaceAll(page, []byte("{{NODE}}"), []byte(html.EscapeString(a.node)))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

func (a *admin) loginPage(w http.ResponseWriter, r *http.Request) {
	a.writeLogin(w, http.StatusOK, "")
}

func (a *admin) writeLogin(w http.ResponseWriter, status int, msg string) {
	page := bytes.ReplaceAll(a.login, []byte("{{ERROR}}"), []byte(html.EscapeString(msg)))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(page)
}

func (a *admin) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		a.writeLogin(w, http.StatusForbidden, "Sign-in refused: the form was not sent from this server's page.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ok, limited := a.auth.checkPassword(r.PostFormValue("password"))
	switch {
	case limited:
		a.log.Warn("tether: admin sign-in refused: too many wrong passwords in the last minute", "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "60")
		a.writeLogin(w, http.StatusTooManyRequests, "Too many wrong passwords: wait a minute.")
		return
	case !ok:
		a.log.Warn("tether: admin sign-in with a wrong password", "remote", r.RemoteAddr)
		a.writeLogin(w, http.StatusUnauthorized, "Wrong password.")
		return
	}
	a.auth.signIn(w, r)
	a.log.Info("tether: admin signed in", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (a *admin) signOut(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	a.auth.signOut(w, r)
	writeJSON(w, http.StatusOK, map[string]any{"signed_out": true})
}

func (a *admin) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || name == "login.html" || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	if _, err := fs.Stat(a.static, name); err != nil {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, a.static, name)
}

// stateCounts are a server's sessions by state.
type stateCounts struct {
	Node         string    `json:"node"`
	Connected    int       `json:"connected"`
	Disconnected int       `json:"disconnected"` // in the grace window
	Closing      int       `json:"closing"`      // ended, its hooks still running
	ReplayDepth  int       `json:"replay_depth"` // server messages unacknowledged, summed
	InFlight     int       `json:"in_flight"`    // client messages being processed, summed
	Updated      time.Time `json:"updated"`
}

// counts walks this server's sessions (as the /metrics gauges do).
func (a *admin) counts() stateCounts {
	c := stateCounts{Node: a.node, Updated: time.Now().UTC()}
	a.srv.Sessions(func(s *tether.Session) bool {
		switch st, _ := s.State(); st {
		case tether.StateConnected:
			c.Connected++
		case tether.StateDisconnected:
			c.Disconnected++
		case tether.StateClosed:
			c.Closing++
			return true
		}
		c.ReplayDepth += s.Pending()
		c.InFlight += s.InFlight()
		return true
	})
	return c
}

// overviewAnswer is GET /admin/api/overview and each message of the stream.
type overviewAnswer struct {
	Node        string           `json:"node"`
	Mode        string           `json:"mode"`
	Now         time.Time        `json:"now"`
	Started     time.Time        `json:"started"`
	GraceWindow string           `json:"grace_window"`
	States      stateCounts      `json:"states"`
	Nodes       []stateCounts    `json:"nodes"` // every server sharing the store (Redis), this one alone otherwise
	Range       string           `json:"range"`
	StepSeconds int64            `json:"step_seconds"`
	Series      []seriesPoint    `json:"series"`
	Window      totals           `json:"window"` // the sums over the range
	Total       totals           `json:"total"`  // since this server started
	Losses      []lossCount      `json:"losses"` // since start, by reason
	Recent      []lifecycleEvent `json:"recent"` // newest first
}

var adminRanges = map[string]time.Duration{"10m": 10 * time.Minute, "1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour}

func (a *admin) snapshot(ctx context.Context, rng string) overviewAnswer {
	d, ok := adminRanges[rng]
	if !ok {
		rng, d = "10m", 10*time.Minute
	}
	step, pts, win := a.rec.window(d)
	total, losses, recent := a.rec.snapshot()
	if len(recent) > adminMaxRecent {
		recent = recent[:adminMaxRecent]
	}
	ans := overviewAnswer{
		Node: a.node, Mode: a.mode, Now: time.Now().UTC(), Started: a.rec.started.UTC(), GraceWindow: a.cfg.GraceWindow.String(),
		States: a.counts(), Range: rng, StepSeconds: int64(step / time.Second), Series: pts, Window: win, Total: total,
		Losses: losses, Recent: recent,
	}
	ans.Nodes = []stateCounts{ans.States}
	if a.nodes != nil {
		ans.Nodes = a.nodes.read(ctx, ans.States)
	}
	return ans
}

func (a *admin) overview(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	writeJSON(w, http.StatusOK, a.snapshot(r.Context(), r.URL.Query().Get("range")))
}

// stream sends a snapshot every adminTick as Server-Sent Events, until the
// page goes or the server shuts down.
func (a *admin) stream(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rng := r.URL.Query().Get("range")
	t := time.NewTicker(adminTick)
	defer t.Stop()
	for {
		b, err := json.Marshal(a.snapshot(r.Context(), rng))
		if err != nil {
			return
		}
		if _, err := w.Write(append(append([]byte("event: overview\ndata: "), b...), '\n', '\n')); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-a.stop:
			return
		}
	}
}

// sessionRow is a session in the admin list.
type sessionRow struct {
	ID        string    `json:"id"`
	User      string    `json:"user"`
	State     string    `json:"state"` // connected, disconnected, closing, closed
	Since     time.Time `json:"since"` // created, or disconnected at, or closed at
	Created   time.Time `json:"created,omitzero"`
	Rooms     []string  `json:"rooms"`
	Replay    int       `json:"replay"`    // replay depth: server messages the client has not acknowledged
	InFlight  int       `json:"in_flight"` // client messages not yet processed (unacknowledged to the client)
	LastCause string    `json:"last_cause,omitempty"`
	Node      string    `json:"node,omitempty"`
}

// listSessions answers GET /admin/api/sessions?q=&state=: this server's
// sessions (and the last ones that ended here, with state=closed or all),
// newest first, whose ID, user or a room contains q.
func (a *admin) listSessions(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	want := r.URL.Query().Get("state")
	match := func(id, user string, rooms []string) bool {
		if q == "" || strings.Contains(strings.ToLower(id), q) || strings.Contains(strings.ToLower(user), q) {
			return true
		}
		for _, room := range rooms {
			if strings.Contains(strings.ToLower(room), q) {
				return true
			}
		}
		return false
	}
	var rows []sessionRow
	if want != "closed" {
		a.srv.Sessions(func(s *tether.Session) bool {
			st, since := s.State()
			row := sessionRow{ID: s.ID(), User: s.UserID(), State: st.String(), Since: s.Created().UTC(), Created: s.Created().UTC(), Node: a.node}
			switch st {
			case tether.StateConnected:
			case tether.StateDisconnected:
				row.Since = since.UTC()
			case tether.StateClosed:
				row.State = "closing"
			default:
				return true
			}
			if want != "" && want != "all" && want != row.State {
				return true
			}
			row.Rooms = nonNil(s.Rooms(r.Context()))
			if !match(row.ID, row.User, row.Rooms) {
				return true
			}
			row.Replay, row.InFlight = s.Pending(), s.InFlight()
			row.LastCause, _ = a.rec.lastCause(row.ID)
			rows = append(rows, row)
			return true
		})
	}
	if want == "closed" || want == "all" {
		for _, ev := range a.rec.closedSessions() {
			if match(ev.Session, ev.User, nil) {
				rows = append(rows, sessionRow{ID: ev.Session, User: ev.User, State: "closed", Since: ev.Time.UTC(), Rooms: []string{},
					Replay: ev.Unacked, LastCause: ev.Cause, Node: a.node})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if !rows[i].Since.Equal(rows[j].Since) {
			return rows[i].Since.After(rows[j].Since)
		}
		return rows[i].ID < rows[j].ID
	})
	n := len(rows)
	if len(rows) > adminMaxSessions {
		rows = rows[:adminMaxSessions]
	}
	if rows == nil {
		rows = []sessionRow{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": rows, "matched": n, "node": a.node})
}

// sessionDetail answers GET /admin/api/sessions/{id}: what the store says
// (any server) and the lifecycle events this server saw.
func (a *admin) sessionDetail(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	id := r.PathValue("id")
	user, events, seen := a.rec.events(id)
	ans := map[string]any{"id": id, "events": nonNilEvents(events)}
	if s := a.srv.Session(id); s != nil {
		ans["in_flight"] = s.InFlight()
	}
	info, err := a.srv.Info(r.Context(), id)
	switch {
	case err == nil:
		ans["user"], ans["state"], ans["created"], ans["rooms"] = info.UserID, info.State.String(), info.Created.UTC(), nonNil(info.Rooms)
		ans["replay"], ans["meta"], ans["node"] = info.Pending, info.Meta, info.Node
		if info.State == tether.StateDisconnected && !info.Since.IsZero() {
			ans["disconnected_since"] = info.Since.UTC()
		}
	case errors.Is(err, tether.ErrSessionClosed) && seen:
		ans["user"], ans["state"] = user, "closed"
	case errors.Is(err, tether.ErrSessionClosed):
		writeError(w, http.StatusNotFound, "session_not_found", "no session "+quote(id)+" (ended sessions are kept for the last "+itoa(closedSessionCap)+")")
		return
	default:
		writeAPIError(w, sendError(err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func nonNilEvents(e []lifecycleEvent) []lifecycleEvent {
	if e == nil {
		return []lifecycleEvent{}
	}
	return e
}

// kick answers POST /admin/api/sessions/{id}/kick {"reason": "…"}, as
// DELETE /api/sessions/{id} does.
func (a *admin) kick(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	id := r.PathValue("id")
	reason, ok := readKickReason(w, r, 4<<10, "kicked by an operator")
	if !ok {
		return
	}
	if err := a.srv.Kick(r.Context(), id, reason); err != nil {
		if errors.Is(err, tether.ErrSessionClosed) {
			writeError(w, http.StatusNotFound, "session_not_found", "no session "+quote(id))
			return
		}
		writeAPIError(w, sendError(err))
		return
	}
	a.log.Info("tether: session kicked from the admin page", "session", id, "reason", reason, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"session": id, "closed": true, "reason": reason})
}

// roomRow is a room in the admin list.
type roomRow struct {
	Room    string `json:"room"`
	Members int    `json:"members"` // sessions in it, on every server sharing the store
	History int    `json:"history"` // messages its history keeps
	First   uint64 `json:"first"`
	Last    uint64 `json:"last"`
	Epoch   string `json:"epoch"`
}

func (a *admin) roomRow(ctx context.Context, room string, members int) roomRow {
	row := roomRow{Room: room, Members: members}
	if h, err := a.srv.History(ctx, room, 1<<62, 1); err == nil {
		row.First, row.Last, row.Epoch = h.First, h.Last, h.Epoch
		if h.Last+1 > h.First {
			row.History = int(h.Last + 1 - h.First)
		}
	}
	return row
}

// rooms answers GET /admin/api/rooms?q=: the rooms with members, the
// largest first, with their history's depth.
func (a *admin) rooms(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	sizes := a.srv.RoomNames(r.Context())
	names := make([]string, 0, len(sizes))
	for name := range sizes {
		if q == "" || strings.Contains(strings.ToLower(name), q) {
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if sizes[names[i]] != sizes[names[j]] {
			return sizes[names[i]] > sizes[names[j]]
		}
		return names[i] < names[j]
	})
	n := len(names)
	names = names[:min(len(names), adminMaxRooms)]
	rows := make([]roomRow, 0, len(names))
	for _, name := range names {
		rows = append(rows, a.roomRow(r.Context(), name, sizes[name]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": rows, "matched": n})
}

// room answers GET /admin/api/rooms/{room}: its members (at most
// adminMaxMembers), with users and presence where this server holds them.
func (a *admin) room(w http.ResponseWriter, r *http.Request, _ *adminSession) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeAPIError(w, sendError(tether.ErrRoomName))
		return
	}
	ids, err := a.srv.RoomMemberIDs(r.Context(), room)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	sort.Strings(ids)
	row := a.roomRow(r.Context(), room, len(ids))
	type member struct {
		ID    string `json:"id"`
		User  string `json:"user,omitempty"`
		State string `json:"state,omitempty"` // "" when held by another server
	}
	members := make([]member, 0, min(len(ids), adminMaxMembers))
	for _, id := range ids[:min(len(ids), adminMaxMembers)] {
		m := member{ID: id}
		if s := a.srv.Session(id); s != nil {
			st, _ := s.State()
			m.User, m.State = s.UserID(), st.String()
		}
		members = append(members, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": row, "members": members})
}

// adminRoutes serves /admin (docs/API.md, "Admin page"): with
// -admin-password, or the API key given with -api-key, as the password;
// open in development mode without either; disabled otherwise.
func (a *App) adminRoutes(mux *routeMux, rec *recorder) {
	if !a.cfg.Admin {
		return
	}
	password, open := a.cfg.AdminPassword, false
	if password == "" {
		password = a.cfg.APIKey
	}
	if password == "" && a.dev == nil {
		a.log.Warn("tether: no -admin-password and no -api-key: the admin page /admin is disabled")
		mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusForbidden, "admin_disabled", "the admin page is disabled: start the server with -admin-password or -api-key")
		})
		mux.Handle("/admin", http.RedirectHandler("/admin/", http.StatusSeeOther))
		return
	}
	if password == "" {
		open = true
		a.log.Warn("tether: DEVELOPMENT MODE: the admin page /admin is open to anyone who can reach this server; set -admin-password or -api-key to require a sign-in")
	}
	node := a.cfg.NodeName
	if a.redis != nil {
		node = a.redis.store.Node()
	}
	if node == "" {
		node = "local"
	}
	ad := newAdmin(a.srv, rec, newAdminAuth(password, open), a.cfg, a.log, node, nil, a.adminStop)
	ad.mode = a.mode()
	if a.redis != nil {
		a.nodes = newNodeBoard(a.redis.rdb, a.cfg.RedisPrefix, node, ad.counts, a.log)
		ad.nodes = a.nodes
	}
	mux.Handle("/admin", ad)
	mux.Handle("/admin/", ad)
}
