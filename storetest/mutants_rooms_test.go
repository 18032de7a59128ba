package storetest_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-ws/tether"
)

// roomHooked is a store with some room methods replaced.
type roomHooked struct {
	tether.Store
	publish    func(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, error)
	open       func(ctx context.Context, room string) (tether.RoomState, error)
	history    func(ctx context.Context, room string, after uint64, max int, dst []tether.Message) (tether.RoomState, []tether.Message, error)
	join       func(ctx context.Context, id, room string, max int, at tether.RoomPosition, ev *tether.Message) (uint64, bool, error)
	appendRoom func(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error)
	mark       func(ctx context.Context, room, user, id string, present bool) (bool, error)
}

func (h *roomHooked) MarkPresent(ctx context.Context, room, user, id string, present bool) (bool, error) {
	if h.mark != nil {
		return h.mark(ctx, room, user, id, present)
	}
	return h.Store.MarkPresent(ctx, room, user, id, present)
}

// presenceMap is a store's presence kept apart, for mutants: pause runs
// between the test and the change (with the lock released), and nothing
// drops the sessions that are gone.
type presenceMap struct {
	mu    sync.Mutex
	m     map[[2]string]map[string]bool
	pause time.Duration
}

func (p *presenceMap) mark(_ context.Context, room, user, id string, present bool) (bool, error) {
	k := [2]string{room, user}
	p.mu.Lock()
	before := len(p.m[k])
	if p.pause > 0 {
		p.mu.Unlock()
		time.Sleep(p.pause)
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if p.m[k] == nil {
		p.m[k] = make(map[string]bool)
	}
	had := p.m[k][id]
	if present {
		p.m[k][id] = true
		return before == 0 && !had, nil
	}
	delete(p.m[k], id)
	return had && len(p.m[k]) == 0, nil
}

func (h *roomHooked) Publish(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, error) {
	if h.publish != nil {
		return h.publish(ctx, room, m, lim)
	}
	return h.Store.Publish(ctx, room, m, lim)
}

func (h *roomHooked) OpenRoom(ctx context.Context, room string) (tether.RoomState, error) {
	if h.open != nil {
		return h.open(ctx, room)
	}
	return h.Store.OpenRoom(ctx, room)
}

func (h *roomHooked) History(ctx context.Context, room string, after uint64, max int, dst []tether.Message) (tether.RoomState, []tether.Message, error) {
	if h.history != nil {
		return h.history(ctx, room, after, max, dst)
	}
	return h.Store.History(ctx, room, after, max, dst)
}

func (h *roomHooked) JoinRoom(ctx context.Context, id, room string, max int, at tether.RoomPosition, ev *tether.Message) (uint64, bool, error) {
	if h.join != nil {
		return h.join(ctx, id, room, max, at, ev)
	}
	return h.Store.JoinRoom(ctx, id, room, max, at, ev)
}

func (h *roomHooked) AppendRoom(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
	if h.appendRoom != nil {
		return h.appendRoom(ctx, id, room, epoch, msgs...)
	}
	return h.Store.AppendRoom(ctx, id, room, epoch, msgs...)
}

func init() {
	for name, m := range roomMutants {
		mutants[name] = m
	}
}

var roomMutants = map[string]mutant{
	"PublishRacyOffset": {[]string{"RoomConcurrentPublish"}, func(s tether.Store) tether.Store {
		// Reads the last offset, then publishes: two publishers can both
		// be told the same offset.
		return &roomHooked{Store: s, publish: func(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, error) {
			st, _, err := s.History(ctx, room, math.MaxUint64, 0, nil)
			if err != nil {
				return tether.RoomPosition{}, err
			}
			time.Sleep(time.Millisecond)
			pos, err := s.Publish(ctx, room, m, lim)
			pos.Offset = st.Last + 1
			return pos, err
		}}
	}},
	"PublishNewEpoch": {[]string{"RoomPublishOffsets"}, func(s tether.Store) tether.Store {
		var n atomic.Int64
		return &roomHooked{Store: s, publish: func(ctx context.Context, room string, m tether.Message, lim tether.HistoryLimits) (tether.RoomPosition, error) {
			pos, err := s.Publish(ctx, room, m, lim)
			pos.Epoch += string(rune('a' + n.Add(1)%26))
			return pos, err
		}}
	}},
	"PublishIgnoresLimits": {[]string{"RoomHistoryTrimCount", "RoomHistoryTrimBytes", "RoomHistoryTrimAge", "RoomHistoryNone"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, publish: func(ctx context.Context, room string, m tether.Message, _ tether.HistoryLimits) (tether.RoomPosition, error) {
			return s.Publish(ctx, room, m, tether.HistoryLimits{})
		}}
	}},
	"OpenRoomNewEpoch": {[]string{"RoomOpen"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, open: func(ctx context.Context, room string) (tether.RoomState, error) {
			st, err := s.OpenRoom(ctx, room)
			st.Epoch += "x"
			return st, err
		}}
	}},
	"HistoryIgnoresAfter": {[]string{"RoomHistoryAfter"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, history: func(ctx context.Context, room string, after uint64, max int, dst []tether.Message) (tether.RoomState, []tether.Message, error) {
			return s.History(ctx, room, 0, max, dst)
		}}
	}},
	"JoinIgnoresPosition": {[]string{"RoomJoinCursor", "RoomRejoinMovesCursor"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, join: func(ctx context.Context, id, room string, max int, _ tether.RoomPosition, ev *tether.Message) (uint64, bool, error) {
			return s.JoinRoom(ctx, id, room, max, tether.RoomPosition{}, ev)
		}}
	}},
	"JoinDropsEvent": {[]string{"RoomJoinLeaveEvents"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, join: func(ctx context.Context, id, room string, max int, at tether.RoomPosition, _ *tether.Message) (uint64, bool, error) {
			return s.JoinRoom(ctx, id, room, max, at, nil)
		}}
	}},
	"AppendRoomIgnoresGaps": {[]string{"RoomJoinCursor", "RoomAppendEpoch"}, func(s tether.Store) tether.Store {
		// Appends out of order instead of refusing.
		return &roomHooked{Store: s, appendRoom: func(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
			seq, err := s.AppendRoom(ctx, id, room, epoch, msgs...)
			if errors.Is(err, tether.ErrRoomGap) {
				return s.Append(ctx, id, msgs...)
			}
			return seq, err
		}}
	}},
	"AppendRoomRepeats": {[]string{"RoomJoinCursor"}, func(s tether.Store) tether.Store {
		// Appends what is at or below the cursor again.
		return &roomHooked{Store: s, appendRoom: func(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
			before, err := s.Load(ctx, id)
			if err != nil {
				return 0, err
			}
			seq, err := s.AppendRoom(ctx, id, room, epoch, msgs...)
			if err == nil && seq == before.Out && len(msgs) > 0 {
				return s.Append(ctx, id, msgs...)
			}
			return seq, err
		}}
	}},
	"PresenceRacy": {[]string{"PresenceConcurrent"}, func(s tether.Store) tether.Store {
		p := &presenceMap{m: make(map[[2]string]map[string]bool), pause: time.Millisecond}
		return &roomHooked{Store: s, mark: p.mark}
	}},
	"PresenceKeepsGone": {[]string{"PresenceDropsGone"}, func(s tether.Store) tether.Store {
		p := &presenceMap{m: make(map[[2]string]map[string]bool)}
		return &roomHooked{Store: s, mark: p.mark}
	}},
	"PresenceAlwaysChanges": {[]string{"PresenceFirstAndLast"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, mark: func(ctx context.Context, room, user, id string, present bool) (bool, error) {
			_, err := s.MarkPresent(ctx, room, user, id, present)
			return true, err
		}}
	}},
	"AppendRoomAnyMember": {[]string{"RoomAppendErrors"}, func(s tether.Store) tether.Store {
		return &roomHooked{Store: s, appendRoom: func(ctx context.Context, id, room, epoch string, msgs ...tether.Message) (uint64, error) {
			seq, err := s.AppendRoom(ctx, id, room, epoch, msgs...)
			if errors.Is(err, tether.ErrNotMember) {
				return s.Append(ctx, id, msgs...)
			}
			return seq, err
		}}
	}},
}
