package tether

import (
	"fmt"
	"sync"
	"time"

	"github.com/tether-ws/tether/internal/link"
	"github.com/tether-ws/tether/internal/wire"
)

// hbSlots is how many slots the heartbeat wheel has per HeartbeatInterval:
// a check runs at most HeartbeatInterval/hbSlots after it is due.
const hbSlots = 32

// hbReach is how far ahead the wheel can place a check, in slots: two
// intervals, so that a turn that comes late still places a check an
// interval after the time it runs at.
const hbReach = 2 * hbSlots

// minHBTick bounds how often the wheel turns (tests use short intervals).
const minHBTick = 2 * time.Millisecond

// heartbeats checks every connection's heartbeat from one timer of the
// server's, not one per connection: a wheel of slots that turns every
// tick, each slot holding the connections whose check falls in it. An idle
// connection costs an entry in one slot; the timer runs only while the
// wheel holds a connection.
type heartbeats struct {
	mu    sync.Mutex
	tick  time.Duration
	slots [hbReach + 1]map[*conn]struct{} // one more than hbReach: a check placed never lands on the slot being run
	cur   int                             // the slot run last
	at    time.Time                       // the time slot cur stands for
	n     int                             // connections in the wheel
	t     *time.Timer                     // nil or stopped while n == 0
	batch []*conn                         // the slots being run, reused

	check func(*conn, time.Time) time.Duration // nil: (*conn).heartbeat; tests replace it
}

// add puts c in the wheel, its first check an interval from now.
func (h *heartbeats) add(c *conn, interval time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.tick == 0 {
		h.tick = max(interval/hbSlots, minHBTick)
	}
	if h.n == 0 {
		h.at = now // the wheel stood still: no turns are owed
		if h.t == nil {
			h.t = time.AfterFunc(h.tick, h.turn)
		} else {
			h.t.Reset(h.tick)
		}
	}
	c.hbIn = true
	h.place(c, now, interval)
	h.n++
}

// ahead is how many slots after the one standing for at a check due d
// after now falls: the first slot whose time is not before it.
func ahead(tick time.Duration, at, now time.Time, d time.Duration) int {
	due := now.Add(d).Sub(at)
	return min(max(int((due+tick-1)/tick), 1), hbReach)
}

// place puts c in the slot where its check falls, d after now; h.mu held.
func (h *heartbeats) place(c *conn, now time.Time, d time.Duration) {
	i := (h.cur + ahead(h.tick, h.at, now, d)) % len(h.slots)
	if h.slots[i] == nil {
		h.slots[i] = make(map[*conn]struct{})
	}
	h.slots[i][c] = struct{}{}
	c.hbSlot = int32(i + 1)
}

// remove takes c out of the wheel (its connection ended); the timer stops
// with the last connection.
func (h *heartbeats) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !c.hbIn {
		return
	}
	c.hbIn = false
	if c.hbSlot > 0 {
		delete(h.slots[c.hbSlot-1], c)
		c.hbSlot = 0
	}
	h.n--
	if h.n == 0 && h.t != nil {
		h.t.Stop()
	}
}

// turn runs the checks of every slot whose time has come (one, unless
// the timer came late), off the wheel's lock, and puts the connections
// still alive back where their next check falls.
func (h *heartbeats) turn() {
	start := time.Now()
	h.mu.Lock()
	steps := min(max(int(start.Sub(h.at)/h.tick), 1), hbReach)
	batch := h.batch[:0]
	h.batch = nil
	for range steps {
		h.cur = (h.cur + 1) % len(h.slots)
		for c := range h.slots[h.cur] {
			batch = append(batch, c)
			c.hbSlot = 0
		}
		// Dropped, not cleared: a map keeps the room of the most it ever
		// held, and a burst of connections would leave every slot sized
		// for all of them.
		h.slots[h.cur] = nil
	}
	h.at = h.at.Add(time.Duration(steps) * h.tick)
	h.mu.Unlock()

	check := h.check
	if check == nil {
		check = (*conn).heartbeat
	}
	next := make([]time.Duration, len(batch))
	for i, c := range batch {
		next[i] = check(c, start)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range batch {
		if c.hbIn && next[i] > 0 {
			h.place(c, start, next[i])
		}
		batch[i] = nil
	}
	h.batch = batch
	if h.n > 0 {
		h.t.Reset(max(time.Until(h.at.Add(h.tick)), 0))
	}
}

// heartbeat checks c's liveness: a connection silent for too long is cut
// (0), a live one gets a ping and the time to its next check. Bytes from
// the client waiting unread in the socket count as life: this server is
// behind (starved of CPU), not the client silent.
func (c *conn) heartbeat(now time.Time) time.Duration {
	o := &c.srv.o
	live := link.Liveness{Every: o.HeartbeatInterval, Limit: o.HeartbeatInterval + o.HeartbeatTimeout}
	dead, next := live.Check(time.Unix(0, c.lastRecv.Load()), now, func() bool { return c.ws.Unread() > 0 })
	c.s.mu.Lock()
	if c.st.Ended() {
		c.s.mu.Unlock()
		return 0
	}
	if !dead {
		c.st.PingDue()
		c.kick()
		c.s.mu.Unlock()
		return next
	}
	c.s.mu.Unlock()
	c.s.detach(c, CauseHeartbeatTimeout, fmt.Errorf("nothing received for %v", live.Limit))
	c.abort(wire.CloseHeartbeatTimeout, "tether: heartbeat timeout")
	return 0
}
