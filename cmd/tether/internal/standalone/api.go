package standalone

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/tether-ws/tether"
)

// api is the HTTP API under /api/ (docs/API.md): JSON in and out, every
// call authorized with "Authorization: Bearer <api key>".
type api struct {
	srv      *tether.Server
	keyHash  [32]byte
	enabled  bool
	maxBody  int64
	maxSize  int
	metrics  *metrics
	log      *slog.Logger
	mux      *routeMux
	cfg      *Config
	draining func() bool // the server is shutting down
}

// maxCloseReason is the longest close reason a WebSocket close frame holds.
const maxCloseReason = 123

func newAPI(srv *tether.Server, key string, cfg *Config, m *metrics, log *slog.Logger, draining func() bool) *api {
	a := &api{
		srv: srv, enabled: key != "", keyHash: sha256.Sum256([]byte(key)),
		maxBody: bodyLimit(cfg.MaxMessageSize), maxSize: cfg.MaxMessageSize, metrics: m, log: log,
		mux: newRouteMux(), cfg: cfg, draining: draining,
	}
	a.mux.Handle("/api/sessions", methods{http.MethodGet: a.listSessions})
	a.mux.Handle("/api/sessions/{id}", methods{http.MethodGet: a.getSession, http.MethodDelete: a.kick})
	a.mux.Handle("/api/sessions/{id}/send", methods{http.MethodPost: a.sendToSession})
	a.mux.Handle("/api/users/{user}/send", methods{http.MethodPost: a.sendToUser})
	a.mux.Handle("/api/rooms", methods{http.MethodGet: a.listRooms})
	a.mux.Handle("/api/rooms/{room}", methods{http.MethodGet: a.getRoom})
	a.mux.Handle("/api/rooms/{room}/broadcast", methods{http.MethodPost: a.broadcast})
	a.mux.Handle("/api/rooms/{room}/members", methods{http.MethodGet: a.getRoom, http.MethodPost: a.join})
	a.mux.Handle("/api/rooms/{room}/members/{session}", methods{http.MethodDelete: a.leave})
	a.mux.Handle("/api/rooms/{room}/history", methods{http.MethodGet: a.history})
	a.mux.Handle("/api/rooms/{room}/presence", methods{http.MethodGet: a.presence})
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route: "+r.Method+" "+r.URL.Path+" (see docs/API.md)")
	})
	return a
}

// bodyLimit is the largest request body: the max message size + 64 KiB,
// or, when larger, what a max-size binary message takes in base64 + 4 KiB.
func bodyLimit(maxSize int) int64 {
	return int64(max(maxSize+64<<10, base64.StdEncoding.EncodedLen(maxSize)+4<<10))
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.enabled {
		writeError(w, http.StatusForbidden, "api_disabled", "the HTTP API is disabled: start the server with -api-key")
		return
	}
	key, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing API key: send Authorization: Bearer <api key>")
		return
	}
	h := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare(h[:], a.keyHash[:]) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tether", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "wrong API key")
		return
	}
	if a.draining() && r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Every change is refused from the first moment of the drain,
		// not only once Sends fail: the caller retries on the next server
		// (or, with Redis, another one) instead of racing the drain.
		// Reads keep working until the HTTP server closes.
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "the server is shutting down; retry on the next one")
		return
	}
	a.mux.ServeHTTP(w, r)
}

// session describes the session named id, held by any server sharing
// the store, or answers 404 (409 if it is closing on this server).
func (a *api) session(w http.ResponseWriter, r *http.Request, id string) (tether.SessionInfo, bool) {
	if s := a.srv.Session(id); s != nil {
		if st, _ := s.State(); st == tether.StateClosed {
			writeError(w, http.StatusConflict, "session_closed", "session "+quote(id)+" is closed")
			return tether.SessionInfo{}, false
		}
	}
	info, err := a.srv.Info(r.Context(), id)
	switch {
	case errors.Is(err, tether.ErrSessionClosed):
		writeError(w, http.StatusNotFound, "session_not_found", "no session "+quote(id))
		return info, false
	case err != nil:
		writeAPIError(w, sendError(err))
		return info, false
	}
	return info, true
}

// messageBody is a message to send: {"type":"text","text":"…"} or
// {"type":"binary","data":"<base64>"}.
type messageBody struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
	Data *string `json:"data"`
}

func (a *api) readMessage(w http.ResponseWriter, r *http.Request) (tether.MessageType, []byte, *apiError) {
	var m messageBody
	if e := decodeBody(w, r, a.maxBody, &m, false); e != nil {
		return 0, nil, e
	}
	var typ tether.MessageType
	var p []byte
	switch m.Type {
	case "text":
		if m.Text == nil {
			return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `a text message needs "text"`)
		}
		if m.Data != nil {
			return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `"data" is for binary messages; a text message has "text"`)
		}
		typ, p = tether.Text, []byte(*m.Text)
	case "binary":
		if m.Data == nil {
			return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `a binary message needs "data" (base64)`)
		}
		if m.Text != nil {
			return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `"text" is for text messages; a binary message has "data"`)
		}
		var err error
		if p, err = base64.StdEncoding.DecodeString(*m.Data); err != nil {
			if p, err = base64.RawStdEncoding.DecodeString(*m.Data); err != nil {
				return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `"data" is not standard base64: %v`, err)
			}
		}
		typ = tether.Binary
	case "":
		return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `"type" is required: "text" or "binary"`)
	default:
		return 0, nil, errorf(http.StatusBadRequest, "invalid_field", `"type" must be "text" or "binary", not %s`, quote(m.Type))
	}
	if len(p) > a.maxSize {
		return 0, nil, errorf(http.StatusRequestEntityTooLarge, "message_too_big", "the message is %d bytes; the limit (-max-message-size) is %d", len(p), a.maxSize)
	}
	return typ, p, nil
}

// sendError maps a Send or Broadcast error to an answer.
func sendError(err error) *apiError {
	switch {
	case errors.Is(err, tether.ErrSessionClosed):
		return errorf(http.StatusConflict, "session_closed", "the session is closed")
	case errors.Is(err, tether.ErrOverflow):
		return errorf(http.StatusServiceUnavailable, "overflow", "the session's replay buffer overflowed: the session ended and its client is told what it lost")
	case errors.Is(err, tether.ErrServerClosed):
		return errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down; retry on the next one")
	case errors.Is(err, tether.ErrTooBig):
		return errorf(http.StatusRequestEntityTooLarge, "message_too_big", "%v", err)
	case errors.Is(err, tether.ErrInvalidUTF8):
		return errorf(http.StatusBadRequest, "invalid_field", "text is not valid UTF-8")
	case errors.Is(err, tether.ErrRoomName):
		return errorf(http.StatusBadRequest, "invalid_room", "room names are 1 to 128 bytes of UTF-8")
	}
	return errorf(http.StatusServiceUnavailable, "unavailable", "cannot queue the message: %v", err)
}

func (a *api) sendToSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.session(w, r, id); !ok {
		return
	}
	typ, p, e := a.readMessage(w, r)
	if e != nil {
		writeAPIError(w, e)
		return
	}
	if err := a.srv.Send(r.Context(), id, typ, p); err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	a.metrics.apiMessages.WithLabelValues("session").Inc()
	out := map[string]any{"session": id, "queued": 1}
	if info, err := a.srv.Info(r.Context(), id); err == nil {
		out["pending"] = info.Pending
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) sendToUser(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	typ, p, e := a.readMessage(w, r)
	if e != nil {
		writeAPIError(w, e)
		return
	}
	ids, err := a.srv.UserSessionIDs(r.Context(), user)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	members := len(ids)
	// With user streams, the message goes to the user's stream: kept in
	// its history for the user's next session even when it has none.
	stored := a.cfg.UserStreams && user != "" && a.cfg.RoomHistoryMessages > 0
	if members == 0 && !stored {
		writeError(w, http.StatusNotFound, "user_not_found", "user "+quote(user)+" has no session (start the server with -user-streams to keep messages for users without one)")
		return
	}
	n, err := a.srv.SendToUser(r.Context(), user, typ, p)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	if n == 0 && !stored {
		writeError(w, http.StatusConflict, "session_closed", "every session of user "+quote(user)+" is closed or closing")
		return
	}
	a.metrics.apiMessages.WithLabelValues("user").Add(float64(n))
	out := map[string]any{"user": user, "queued": n, "sessions": members}
	if stored {
		out["stored"] = true
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) broadcast(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeAPIError(w, sendError(tether.ErrRoomName))
		return
	}
	typ, p, e := a.readMessage(w, r)
	if e != nil {
		writeAPIError(w, e)
		return
	}
	ids, err := a.srv.RoomMemberIDs(r.Context(), room)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	members := len(ids)
	stored := a.cfg.keepsHistory(room)
	if members == 0 && !stored {
		writeError(w, http.StatusNotFound, "room_not_found", "room "+quote(room)+" has no members and keeps no history (-room-history-messages or its -rooms entry is 0)")
		return
	}
	pub, err := a.srv.Broadcast(r.Context(), room, typ, p)
	out := map[string]any{"room": room, "epoch": pub.Epoch, "offset": pub.Offset,
		"queued": pub.Members, "members": members, "stored": stored}
	if err != nil {
		if pub.Offset == 0 {
			writeAPIError(w, sendError(err))
			return
		}
		// Published (sending it again would publish it twice), but not
		// queued for every member: those get it before the room's next
		// message, or from history when they return.
		a.log.Warn("tether: broadcast published but not queued for every member", "room", room, "offset", pub.Offset, "err", err)
		out["warning"] = "published, but not yet queued for every member: " + err.Error()
	}
	a.metrics.roomBroadcasts.WithLabelValues("api").Inc()
	a.metrics.apiMessages.WithLabelValues("room").Add(float64(pub.Members))
	writeJSON(w, http.StatusOK, out)
}

type joinBody struct {
	Session string `json:"session"`
}

func (a *api) join(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeAPIError(w, sendError(tether.ErrRoomName))
		return
	}
	var b joinBody
	if e := decodeBody(w, r, a.maxBody, &b, false); e != nil {
		writeAPIError(w, e)
		return
	}
	if b.Session == "" {
		writeError(w, http.StatusBadRequest, "invalid_field", `"session" is required: the ID of the session to add`)
		return
	}
	if _, ok := a.session(w, r, b.Session); !ok {
		return
	}
	switch err := a.srv.Join(r.Context(), b.Session, room); {
	case errors.Is(err, tether.ErrTooManyRooms):
		writeError(w, http.StatusConflict, "too_many_rooms", err.Error())
		return
	case err != nil:
		writeAPIError(w, sendError(err))
		return
	}
	a.writeRooms(w, r, room, b.Session)
}

// writeRooms answers with the rooms a session is in now.
func (a *api) writeRooms(w http.ResponseWriter, r *http.Request, room, id string) {
	info, err := a.srv.Info(r.Context(), id)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": room, "session": id, "rooms": nonNil(info.Rooms)})
}

func (a *api) leave(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	id := r.PathValue("session")
	info, ok := a.session(w, r, id)
	if !ok {
		return
	}
	if !contains(info.Rooms, room) {
		writeError(w, http.StatusNotFound, "not_member", "session "+quote(id)+" is not in room "+quote(room))
		return
	}
	if err := a.srv.Leave(r.Context(), id, room); err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	a.writeRooms(w, r, room, id)
}

type kickBody struct {
	Reason string `json:"reason"`
}

// readKickReason reads a kick's {"reason": "…"} (dflt when empty), which
// goes in the close frame; it answers the error itself when it reports false.
func readKickReason(w http.ResponseWriter, r *http.Request, maxBody int64, dflt string) (string, bool) {
	var b kickBody
	if e := decodeBody(w, r, maxBody, &b, true); e != nil {
		writeAPIError(w, e)
		return "", false
	}
	if len(b.Reason) > maxCloseReason || !utf8.ValidString(b.Reason) {
		writeError(w, http.StatusBadRequest, "invalid_field", `"reason" must be at most 123 bytes of UTF-8 (it goes in the close frame)`)
		return "", false
	}
	if b.Reason == "" {
		return dflt, true
	}
	return b.Reason, true
}

func (a *api) kick(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.session(w, r, id); !ok {
		return
	}
	reason, ok := readKickReason(w, r, a.maxBody, "kicked")
	if !ok {
		return
	}
	if err := a.srv.Kick(r.Context(), id, reason); err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": id, "closed": true, "reason": reason})
}

func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return `"` + s + `"`
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func nonNil(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
