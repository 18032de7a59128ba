package standalone

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tether-ws/tether"
)

// Paging of GET /api/sessions.
const (
	defaultPage = 100
	maxPage     = 1000
)

// sessionView is a session as the API shows it.
type sessionView struct {
	ID                string            `json:"id"`
	User              string            `json:"user"`
	State             string            `json:"state"`
	DisconnectedSince *time.Time        `json:"disconnected_since"`
	Pending           int               `json:"pending"`
	Rooms             []string          `json:"rooms"`
	Created           time.Time         `json:"created"`
	Meta              map[string]string `json:"meta"`
}

func viewOf(info tether.SessionInfo) (sessionView, bool) {
	st, since := info.State, info.Since
	if st != tether.StateConnected && st != tether.StateDisconnected {
		return sessionView{}, false
	}
	v := sessionView{
		ID: info.ID, User: info.UserID, State: st.String(), Pending: info.Pending,
		Rooms: nonNil(info.Rooms), Created: info.Created.UTC(), Meta: info.Meta,
	}
	if st == tether.StateDisconnected && !since.IsZero() {
		t := since.UTC()
		v.DisconnectedSince = &t
	}
	if v.Meta == nil {
		v.Meta = map[string]string{}
	}
	return v, true
}

func (a *api) getSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if info, err := a.srv.Info(r.Context(), id); err == nil {
		if v, ok := viewOf(info); ok {
			writeJSON(w, http.StatusOK, v)
			return
		}
	}
	writeError(w, http.StatusNotFound, "session_not_found", "no session "+quote(id))
}

// cursor is a position in the list, ordered by creation time then ID.
type cursor struct {
	created int64
	id      string
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.created, 10) + ":" + c.id))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, err
	}
	ts, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return cursor{}, fmt.Errorf("not a cursor")
	}
	return cursor{n, id}, nil
}

func (c cursor) before(o cursor) bool {
	return c.created < o.created || (c.created == o.created && c.id < o.id)
}

// listSessions answers GET /api/sessions?room=&user=&limit=&cursor=.
func (a *api) listSessions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "room", "user", "limit", "cursor":
		default:
			writeError(w, http.StatusBadRequest, "invalid_parameter", "unknown query parameter "+quote(k)+"; use room, user, limit, cursor")
			return
		}
	}
	limit := defaultPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit must be an integer from 1 to %d", maxPage))
			return
		}
		limit = n
	}
	var after *cursor
	if v := q.Get("cursor"); v != "" {
		c, err := parseCursor(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "cursor is not one this API returned")
			return
		}
		after = &c
	}
	// Rooms and users are indexed by the store: those lists cover every
	// server sharing it. The unfiltered list is of this server's sessions.
	var ids []string
	var err error
	room, byRoom := q.Get("room"), q.Has("room")
	user, byUser := q.Get("user"), q.Has("user")
	switch {
	case byRoom:
		ids, err = a.srv.RoomMemberIDs(r.Context(), room)
	case byUser:
		ids, err = a.srv.UserSessionIDs(r.Context(), user)
	default:
		a.srv.Sessions(func(s *tether.Session) bool { ids = append(ids, s.ID()); return true })
	}
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	var list []tether.SessionInfo
	for _, id := range ids {
		if info, err := a.srv.Info(r.Context(), id); err == nil {
			list = append(list, info)
		}
	}
	type row struct {
		c cursor
		v sessionView
	}
	rows := make([]row, 0, len(list))
	for _, s := range list {
		if byUser && s.UserID != user {
			continue
		}
		v, ok := viewOf(s)
		if !ok {
			continue
		}
		c := cursor{v.Created.UnixNano(), v.ID}
		if after != nil && !after.before(c) {
			continue
		}
		rows = append(rows, row{c, v})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].c.before(rows[j].c) })
	out := struct {
		Sessions   []sessionView `json:"sessions"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}{Sessions: []sessionView{}}
	for i, row := range rows {
		if i == limit {
			out.NextCursor = rows[i-1].c.String()
			break
		}
		out.Sessions = append(out.Sessions, row.v)
	}
	writeJSON(w, http.StatusOK, out)
}

// roomView is a room as the API shows it.
type roomView struct {
	Name    string   `json:"name"`
	Size    int      `json:"size"`
	Members []string `json:"members"` // session IDs, sorted
}

func (a *api) roomView(r *http.Request, name string) roomView {
	ms, _ := a.srv.RoomMemberIDs(r.Context(), name)
	v := roomView{Name: name, Members: append(make([]string, 0, len(ms)), ms...)}
	sort.Strings(v.Members)
	v.Size = len(v.Members)
	return v
}

func (a *api) listRooms(w http.ResponseWriter, r *http.Request) {
	names := a.srv.RoomNames(r.Context())
	out := struct {
		Rooms []roomView `json:"rooms"`
	}{Rooms: make([]roomView, 0, len(names))}
	for name := range names {
		if v := a.roomView(r, name); v.Size > 0 {
			out.Rooms = append(out.Rooms, v)
		}
	}
	sort.Slice(out.Rooms, func(i, j int) bool { return out.Rooms[i].Name < out.Rooms[j].Name })
	writeJSON(w, http.StatusOK, out)
}

func (a *api) getRoom(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	v := a.roomView(r, room)
	if v.Size == 0 {
		writeError(w, http.StatusNotFound, "room_not_found", "room "+quote(room)+" has no members")
		return
	}
	writeJSON(w, http.StatusOK, v)
}
