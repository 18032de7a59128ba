package standalone

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/tether-ws/tether"
)

// Paging of GET /api/rooms/{room}/history.
const (
	defaultHistoryPage = 100
	maxHistoryPage     = 1000
	// maxHistoryAnswer bounds the payload bytes of one history answer
	// beyond its first message: a page may hold fewer than limit.
	maxHistoryAnswer = 4 << 20
)

// historyMessage is a room message as the history API shows it.
type historyMessage struct {
	Offset uint64  `json:"offset"`
	Type   string  `json:"type"` // text or binary
	Text   *string `json:"text,omitempty"`
	Data   []byte  `json:"data,omitempty"` // base64
}

// historyPage is the answer of GET /api/rooms/{room}/history.
type historyPage struct {
	Room     string           `json:"room"`
	Epoch    string           `json:"epoch"` // "" if the room has no stream yet
	First    uint64           `json:"first"` // oldest kept offset; last+1 when none is kept
	Last     uint64           `json:"last"`  // the room's last offset
	Messages []historyMessage `json:"messages"`
	HasMore  bool             `json:"has_more"`       // kept messages follow this page
	Next     *uint64          `json:"next,omitempty"` // with has_more: pass as since for the next page
}

// history answers GET /api/rooms/{room}/history?since=&limit=&epoch=.
func (a *api) history(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeAPIError(w, sendError(tether.ErrRoomName))
		return
	}
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "since", "limit", "epoch":
			if len(v) > 1 {
				writeError(w, http.StatusBadRequest, "invalid_parameter", "query parameter "+quote(k)+" given more than once")
				return
			}
		default:
			writeError(w, http.StatusBadRequest, "invalid_parameter", "unknown query parameter "+quote(k)+"; use since, limit, epoch")
			return
		}
	}
	var since uint64
	if v := q.Get("since"); v != "" || q.Has("since") {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "since must be an offset: an integer, 0 or more (messages after it are returned)")
			return
		}
		since = n
	}
	limit := defaultHistoryPage
	if v := q.Get("limit"); v != "" || q.Has("limit") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryPage {
			writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit must be an integer from 1 to %d", maxHistoryPage))
			return
		}
		limit = n
	}
	h, err := a.srv.History(r.Context(), room, since, limit)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	if q.Has("epoch") && q.Get("epoch") != h.Epoch {
		// Offsets of another epoch are not comparable: the room's history
		// was lost since the caller's last page.
		writeJSON(w, http.StatusConflict, map[string]any{
			"error": &apiError{Code: "epoch_changed", Message: fmt.Sprintf("the room's epoch is now %s, not %s: its history was lost meanwhile; start again from since=0", quote(h.Epoch), quote(q.Get("epoch")))},
			"epoch": h.Epoch, "first": h.First, "last": h.Last,
		})
		return
	}
	out := historyPage{Room: room, Epoch: h.Epoch, First: h.First, Last: h.Last, Messages: make([]historyMessage, 0, len(h.Messages))}
	if out.Epoch == "" && out.First == 0 {
		out.First = out.Last + 1 // no stream: nothing kept
	}
	b := 0
	for _, m := range h.Messages {
		if b += len(m.Data); b > maxHistoryAnswer && len(out.Messages) > 0 {
			break
		}
		hm := historyMessage{Offset: m.Offset, Type: "binary"}
		if m.Type == tether.Text {
			t := string(m.Data)
			hm.Type, hm.Text = "text", &t
		} else {
			hm.Data = m.Data
			if hm.Data == nil {
				hm.Data = []byte{}
			}
		}
		out.Messages = append(out.Messages, hm)
	}
	at := since
	if n := len(out.Messages); n > 0 {
		at = out.Messages[n-1].Offset
	}
	if at < out.Last && out.First <= out.Last {
		out.HasMore = true
		next := max(at, out.First-1)
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// presenceView is the answer of GET /api/rooms/{room}/presence.
type presenceView struct {
	Room     string           `json:"room"`
	Sessions []presenceMember `json:"sessions"` // sorted by session ID
	Users    []string         `json:"users"`    // distinct, sorted; anonymous sessions ("") not listed
}

type presenceMember struct {
	Session string `json:"session"`
	User    string `json:"user"`
}

// presence answers GET /api/rooms/{room}/presence: who is in the room,
// on every server sharing the store.
func (a *api) presence(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !validRoom(room) {
		writeAPIError(w, sendError(tether.ErrRoomName))
		return
	}
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "this call takes no query parameter")
		return
	}
	ps, err := a.srv.Presence(r.Context(), room)
	if err != nil {
		writeAPIError(w, sendError(err))
		return
	}
	out := presenceView{Room: room, Sessions: make([]presenceMember, 0, len(ps)), Users: []string{}}
	users := map[string]bool{}
	for _, p := range ps {
		out.Sessions = append(out.Sessions, presenceMember{Session: p.Session, User: p.User})
		if p.User != "" && !users[p.User] {
			users[p.User] = true
			out.Users = append(out.Users, p.User)
		}
	}
	sort.Slice(out.Sessions, func(i, j int) bool { return out.Sessions[i].Session < out.Sessions[j].Session })
	sort.Strings(out.Users)
	writeJSON(w, http.StatusOK, out)
}
