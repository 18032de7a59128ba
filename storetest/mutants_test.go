package storetest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-ws/tether"
	"github.com/tether-ws/tether/storetest"
)

// The suite is checked against mutants: stores broken in one way each.
// A mutant that passes the subtests meant to catch it means the suite has
// a blind spot. Each mutant runs in a child process so that its failures
// do not fail this package.

const mutantEnv = "STORETEST_MUTANT"

// TestMutant runs the suite against the mutant named by $STORETEST_MUTANT.
func TestMutant(t *testing.T) {
	name := os.Getenv(mutantEnv)
	if name == "" {
		t.Skip("run by TestSuiteCatchesMutants")
	}
	m, ok := mutants[name]
	if !ok {
		t.Fatalf("no mutant %q", name)
	}
	storetest.Run(t, func(t *testing.T) tether.Store {
		return m.wrap(tether.NewMemoryStore(nil))
	})
}

func TestSuiteCatchesMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per mutant")
	}
	names := slices.Sorted(maps.Keys(mutants))
	for _, name := range names {
		m := mutants[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMutant$", "-test.v", "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite did not fail (err %v):\n%s", err, out)
			}
			t.Logf("caught by %v", failed(out))
			for _, sub := range m.caughtBy {
				if !bytes.Contains(out, []byte("--- FAIL: TestMutant/"+sub+" (")) {
					t.Errorf("subtest %s did not catch the mutant; failed: %v", sub, failed(out))
				}
			}
		})
	}
}

func failed(out []byte) []string {
	var names []string
	for line := range strings.Lines(string(out)) {
		if _, rest, ok := strings.Cut(line, "--- FAIL: TestMutant/"); ok {
			name, _, _ := strings.Cut(rest, " ")
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

type mutant struct {
	caughtBy []string // subtests that must fail
	wrap     func(s tether.Store) tether.Store
}

// hooked is a store with some methods replaced.
type hooked struct {
	tether.Store
	epoch     func(ctx context.Context) (string, error)
	create    func(ctx context.Context, rec *tether.Record) error
	load      func(ctx context.Context, id string) (*tether.Record, error)
	save      func(ctx context.Context, rec *tether.Record) error
	append    func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error)
	read      func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error)
	ack       func(ctx context.Context, id string, seq uint64) error
	close     func(ctx context.Context, id string, t *tether.Tombstone) error
	tombstone func(ctx context.Context, id string) (*tether.Tombstone, error)
}

func (h *hooked) Epoch(ctx context.Context) (string, error) {
	if h.epoch != nil {
		return h.epoch(ctx)
	}
	return h.Store.Epoch(ctx)
}

func (h *hooked) Create(ctx context.Context, rec *tether.Record) error {
	if h.create != nil {
		return h.create(ctx, rec)
	}
	return h.Store.Create(ctx, rec)
}

func (h *hooked) Load(ctx context.Context, id string) (*tether.Record, error) {
	if h.load != nil {
		return h.load(ctx, id)
	}
	return h.Store.Load(ctx, id)
}

func (h *hooked) Save(ctx context.Context, rec *tether.Record) error {
	if h.save != nil {
		return h.save(ctx, rec)
	}
	return h.Store.Save(ctx, rec)
}

func (h *hooked) Append(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
	if h.append != nil {
		return h.append(ctx, id, msgs...)
	}
	return h.Store.Append(ctx, id, msgs...)
}

func (h *hooked) Read(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
	if h.read != nil {
		return h.read(ctx, id, after, maxBytes, dst)
	}
	return h.Store.Read(ctx, id, after, maxBytes, dst)
}

func (h *hooked) Ack(ctx context.Context, id string, seq uint64) error {
	if h.ack != nil {
		return h.ack(ctx, id, seq)
	}
	return h.Store.Ack(ctx, id, seq)
}

func (h *hooked) Close(ctx context.Context, id string, lease uint64, t *tether.Tombstone) error {
	if h.close != nil {
		return h.close(ctx, id, t)
	}
	return h.Store.Close(ctx, id, lease, t)
}

func (h *hooked) Tombstone(ctx context.Context, id string) (*tether.Tombstone, error) {
	if h.tombstone != nil {
		return h.tombstone(ctx, id)
	}
	return h.Store.Tombstone(ctx, id)
}

var mutants = map[string]mutant{
	"EpochEmpty": {[]string{"Epoch"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, epoch: func(context.Context) (string, error) { return "", nil }}
	}},
	"EpochChanges": {[]string{"Epoch"}, func(s tether.Store) tether.Store {
		var n atomic.Int64
		return &hooked{Store: s, epoch: func(context.Context) (string, error) { return fmt.Sprint(n.Add(1)), nil }}
	}},

	"CreateKeepsCounters": {[]string{"CreateResetsCounters"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, create: func(ctx context.Context, rec *tether.Record) error {
			if err := s.Create(ctx, rec); err != nil {
				return err
			}
			for range rec.Out {
				if _, err := s.Append(ctx, rec.ID, tether.Message{}); err != nil {
					return err
				}
			}
			return nil
		}}
	}},
	"CreateOverwrites": {[]string{"CreateExists"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, create: func(ctx context.Context, rec *tether.Record) error {
			err := s.Create(ctx, rec)
			if errors.Is(err, tether.ErrExists) {
				_ = s.Close(ctx, rec.ID, 0, nil)
				err = s.Create(ctx, rec)
			}
			return err
		}}
	}},
	"CreateTruncatesTime": {[]string{"CreateLoadRoundTrip"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, create: func(ctx context.Context, rec *tether.Record) error {
			r := *rec
			r.Created = r.Created.Truncate(time.Millisecond)
			return s.Create(ctx, &r)
		}}
	}},
	"CreateDropsPrevToken": {[]string{"CreateLoadRoundTrip"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, create: func(ctx context.Context, rec *tether.Record) error {
			r := *rec
			r.PrevToken = tether.TokenHash{}
			return s.Create(ctx, &r)
		}}
	}},
	"CreateDropsBounds": {[]string{"CreateLoadRoundTrip", "OverflowMessages", "OverflowBytes"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, create: func(ctx context.Context, rec *tether.Record) error {
			r := *rec
			r.MaxMessages, r.MaxBytes = 0, 0 // unbounded in the memory store
			return s.Create(ctx, &r)
		}}
	}},
	"LoadZeroTimeAsEpoch": {[]string{"CreateLoadZeroValues", "SaveUpdatesFields"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, load: func(ctx context.Context, id string) (*tether.Record, error) {
			rec, err := s.Load(ctx, id)
			if err == nil && rec.Detached.IsZero() {
				rec.Detached = time.Unix(0, 0)
			}
			return rec, err
		}}
	}},
	"MetaAliased": {[]string{"CreateCopiesMeta", "SaveCopiesMeta", "LoadReturnsCopy"}, func(s tether.Store) tether.Store {
		var mu sync.Mutex
		metas := map[string]map[string]string{}
		keep := func(rec *tether.Record) {
			mu.Lock()
			metas[rec.ID] = rec.Meta
			mu.Unlock()
		}
		return &hooked{Store: s,
			create: func(ctx context.Context, rec *tether.Record) error {
				err := s.Create(ctx, rec)
				if err == nil {
					keep(rec)
				}
				return err
			},
			save: func(ctx context.Context, rec *tether.Record) error {
				err := s.Save(ctx, rec)
				if err == nil {
					keep(rec)
				}
				return err
			},
			load: func(ctx context.Context, id string) (*tether.Record, error) {
				rec, err := s.Load(ctx, id)
				if err == nil {
					mu.Lock()
					rec.Meta = metas[id]
					mu.Unlock()
				}
				return rec, err
			},
		}
	}},

	"SaveIgnored": {[]string{"SaveUpdatesFields"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, save: func(ctx context.Context, rec *tether.Record) error {
			_, err := s.Load(ctx, rec.ID)
			return err
		}}
	}},
	"SaveMergesMeta": {[]string{"SaveUpdatesFields"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, save: func(ctx context.Context, rec *tether.Record) error {
			old, err := s.Load(ctx, rec.ID)
			if err != nil {
				return err
			}
			r := *rec
			r.Meta = maps.Clone(old.Meta)
			if r.Meta == nil {
				r.Meta = map[string]string{}
			}
			maps.Copy(r.Meta, rec.Meta)
			return s.Save(ctx, &r)
		}}
	}},
	"SaveSkipsZeroFields": {[]string{"SaveUpdatesFields"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, save: func(ctx context.Context, rec *tether.Record) error {
			old, err := s.Load(ctx, rec.ID)
			if err != nil {
				return err
			}
			r := *rec
			if r.Detached.IsZero() {
				r.Detached = old.Detached
			}
			if r.PrevToken == (tether.TokenHash{}) {
				r.PrevToken = old.PrevToken
			}
			return s.Save(ctx, &r)
		}}
	}},
	"SaveUpserts": {[]string{"UnknownSession", "CloseTombstone"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, save: func(ctx context.Context, rec *tether.Record) error {
			err := s.Save(ctx, rec)
			if errors.Is(err, tether.ErrNotFound) {
				err = s.Create(ctx, rec)
			}
			return err
		}}
	}},
	"SaveMovesAcked": {[]string{"SaveKeepsCounters"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, save: func(ctx context.Context, rec *tether.Record) error {
			if err := s.Save(ctx, rec); err != nil {
				return err
			}
			cur, err := s.Load(ctx, rec.ID)
			if err != nil {
				return err
			}
			return s.Ack(ctx, rec.ID, min(rec.Acked, cur.Out))
		}}
	}},

	"AppendReturnsFirst": {[]string{"AppendMulti"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			seq, err := s.Append(ctx, id, msgs...)
			if err == nil && len(msgs) > 0 {
				seq -= uint64(len(msgs) - 1)
			}
			return seq, err
		}}
	}},
	"AppendReversed": {[]string{"AppendMulti"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			r := slices.Clone(msgs)
			slices.Reverse(r)
			return s.Append(ctx, id, r...)
		}}
	}},
	// ConcurrentMultiAppend catches this one too, but only by chance.
	"AppendNotAtomic": {[]string{"OverflowMultiAtomic"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			var seq uint64
			for _, m := range msgs {
				var err error
				if seq, err = s.Append(ctx, id, m); err != nil {
					return 0, err
				}
			}
			return seq, nil
		}}
	}},
	"AppendRacySeq": {[]string{"ConcurrentAppend"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return 0, err
			}
			runtime.Gosched()
			if _, err := s.Append(ctx, id, msgs...); err != nil {
				return 0, err
			}
			return rec.Out + uint64(len(msgs)), nil
		}}
	}},
	"OverflowCountsAcked": {[]string{"OverflowMessages"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return 0, err
			}
			if rec.Out+uint64(len(msgs)) > uint64(rec.MaxMessages) {
				return 0, tether.ErrOverflow
			}
			return s.Append(ctx, id, msgs...)
		}}
	}},
	"OverflowOffByOne": {[]string{"OverflowMessages"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return 0, err
			}
			if rec.Out-rec.Acked+uint64(len(msgs)) >= uint64(rec.MaxMessages) {
				return 0, tether.ErrOverflow
			}
			return s.Append(ctx, id, msgs...)
		}}
	}},
	"OverflowCountsHeaders": {[]string{"OverflowBytes"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, append: func(ctx context.Context, id string, msgs ...tether.Message) (uint64, error) {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return 0, err
			}
			kept, err := s.Read(ctx, id, rec.Acked, 1<<30, nil)
			if err != nil {
				return 0, err
			}
			n := 0
			for _, m := range append(kept, msgs...) {
				n += len(m.Data) + 1
			}
			if n > rec.MaxBytes {
				return 0, tether.ErrOverflow
			}
			return s.Append(ctx, id, msgs...)
		}}
	}},

	"ReadIncludesAfter": {[]string{"ReadAfter"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			if after > 0 {
				after--
			}
			return s.Read(ctx, id, after, maxBytes, dst)
		}}
	}},
	"ReadIgnoresMaxBytes": {[]string{"ReadMaxBytes"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, _ int, dst []tether.Message) ([]tether.Message, error) {
			return s.Read(ctx, id, after, 1<<30, dst)
		}}
	}},
	"ReadOneAtATime": {[]string{"ReadMaxBytes"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, _ int, dst []tether.Message) ([]tether.Message, error) {
			return s.Read(ctx, id, after, 1, dst)
		}}
	}},
	"ReadSkipsWhatDoesNotFit": {[]string{"ReadMaxBytes"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			all, err := s.Read(ctx, id, after, 1<<30, nil)
			if err != nil {
				return dst, err
			}
			n, b := 0, 0
			for _, m := range all {
				if n == 0 || b+len(m.Data) <= maxBytes {
					dst = append(dst, m)
					n++
					b += len(m.Data)
				}
			}
			return dst, nil
		}}
	}},
	"ReadClobbersDst": {[]string{"ReadAppendsToDst"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			return s.Read(ctx, id, after, maxBytes, dst[:0])
		}}
	}},
	"ReadNoGap": {[]string{"AckTrims", "AckAll"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			out, err := s.Read(ctx, id, after, maxBytes, dst)
			if errors.Is(err, tether.ErrGap) {
				rec, err := s.Load(ctx, id)
				if err != nil {
					return dst, err
				}
				return s.Read(ctx, id, rec.Acked, maxBytes, dst)
			}
			return out, err
		}}
	}},
	"ReadLosesType": {[]string{"ReadDataIntact", "AppendMulti"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			n := len(dst)
			dst, err := s.Read(ctx, id, after, maxBytes, dst)
			for i := n; i < len(dst); i++ {
				dst[i].Type = tether.Binary
			}
			return dst, err
		}}
	}},
	"ReadPastEndFails": {[]string{"ReadPastEnd"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return dst, err
			}
			if after > rec.Out {
				return dst, tether.ErrGap
			}
			return s.Read(ctx, id, after, maxBytes, dst)
		}}
	}},
	"ReadTruncatesLargeData": {[]string{"ReadDataIntact"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, read: func(ctx context.Context, id string, after uint64, maxBytes int, dst []tether.Message) ([]tether.Message, error) {
			n := len(dst)
			dst, err := s.Read(ctx, id, after, maxBytes, dst)
			for i := n; i < len(dst); i++ {
				if len(dst[i].Data) > 32<<10 {
					dst[i].Data = dst[i].Data[:32<<10]
				}
			}
			return dst, err
		}}
	}},

	"AckIgnored": {[]string{"AckTrims", "AckAll"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, ack: func(ctx context.Context, id string, _ uint64) error {
			_, err := s.Load(ctx, id)
			return err
		}}
	}},
	"AckRangeClamped": {[]string{"AckRange"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, ack: func(ctx context.Context, id string, seq uint64) error {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return err
			}
			return s.Ack(ctx, id, min(seq, rec.Out))
		}}
	}},
	"AckStaleFails": {[]string{"AckBelowIgnored"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, ack: func(ctx context.Context, id string, seq uint64) error {
			rec, err := s.Load(ctx, id)
			if err != nil {
				return err
			}
			if seq > 0 && seq <= rec.Acked {
				return errors.New("stale ack")
			}
			return s.Ack(ctx, id, seq)
		}}
	}},
	"AckUnknownOK": {[]string{"UnknownSession"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, ack: func(ctx context.Context, id string, seq uint64) error {
			if err := s.Ack(ctx, id, seq); !errors.Is(err, tether.ErrNotFound) {
				return err
			}
			return nil
		}}
	}},
	"AckAffectsAll": {[]string{"Isolation"}, func(s tether.Store) tether.Store {
		var mu sync.Mutex
		var ids []string
		return &hooked{Store: s,
			create: func(ctx context.Context, rec *tether.Record) error {
				mu.Lock()
				ids = append(ids, rec.ID)
				mu.Unlock()
				return s.Create(ctx, rec)
			},
			ack: func(ctx context.Context, id string, seq uint64) error {
				mu.Lock()
				all := slices.Clone(ids)
				mu.Unlock()
				for _, other := range all {
					if other != id {
						_ = s.Ack(ctx, other, seq)
					}
				}
				return s.Ack(ctx, id, seq)
			},
		}
	}},

	"CloseKeepsSession": {[]string{"CloseTombstone", "CloseNilTombstone"}, func(s tether.Store) tether.Store {
		var mu sync.Mutex
		tombs := map[string]tether.Tombstone{}
		return &hooked{Store: s,
			close: func(ctx context.Context, id string, t *tether.Tombstone) error {
				if _, err := s.Load(ctx, id); err != nil {
					return err
				}
				if t != nil {
					mu.Lock()
					tombs[id] = *t
					mu.Unlock()
				}
				return nil
			},
			tombstone: func(ctx context.Context, id string) (*tether.Tombstone, error) {
				mu.Lock()
				defer mu.Unlock()
				t, ok := tombs[id]
				if !ok {
					return nil, tether.ErrNotFound
				}
				return &t, nil
			},
		}
	}},
	"CloseDropsTombstone": {[]string{"CloseTombstone"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, close: func(ctx context.Context, id string, _ *tether.Tombstone) error {
			return s.Close(ctx, id, 0, nil)
		}}
	}},
	"CloseUnknownOK": {[]string{"UnknownSession", "CloseTwice"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, close: func(ctx context.Context, id string, t *tether.Tombstone) error {
			if err := s.Close(ctx, id, 0, t); !errors.Is(err, tether.ErrNotFound) {
				return err
			}
			return nil
		}}
	}},
	"TombstoneDropsPrevToken": {[]string{"CloseTombstone"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, tombstone: func(ctx context.Context, id string) (*tether.Tombstone, error) {
			t, err := s.Tombstone(ctx, id)
			if err == nil {
				t.PrevToken = tether.TokenHash{}
			}
			return t, err
		}}
	}},
	"TombstoneTruncatesClosed": {[]string{"CloseTombstone"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, tombstone: func(ctx context.Context, id string) (*tether.Tombstone, error) {
			t, err := s.Tombstone(ctx, id)
			if err == nil {
				t.Closed = t.Closed.Truncate(time.Second)
			}
			return t, err
		}}
	}},
	"TombstoneForLive": {[]string{"TombstoneNeverClosed"}, func(s tether.Store) tether.Store {
		return &hooked{Store: s, tombstone: func(ctx context.Context, id string) (*tether.Tombstone, error) {
			t, err := s.Tombstone(ctx, id)
			if errors.Is(err, tether.ErrNotFound) {
				if _, lerr := s.Load(ctx, id); lerr == nil {
					return &tether.Tombstone{ID: id}, nil
				}
			}
			return t, err
		}}
	}},
	"TombstoneAliased": {[]string{"TombstoneCopy"}, func(s tether.Store) tether.Store {
		var mu sync.Mutex
		tombs := map[string]*tether.Tombstone{}
		return &hooked{Store: s,
			close: func(ctx context.Context, id string, t *tether.Tombstone) error {
				err := s.Close(ctx, id, 0, t)
				if err == nil && t != nil {
					mu.Lock()
					tombs[id] = t
					mu.Unlock()
				}
				return err
			},
			tombstone: func(ctx context.Context, id string) (*tether.Tombstone, error) {
				if _, err := s.Tombstone(ctx, id); err != nil {
					return nil, err
				}
				mu.Lock()
				defer mu.Unlock()
				return tombs[id], nil
			},
		}
	}},
	"RecreateKeepsLog": {[]string{"RecreateAfterClose"}, func(s tether.Store) tether.Store {
		// Like a store that forgets to delete the log with the record.
		var mu sync.Mutex
		outs := map[string]uint64{}
		return &hooked{Store: s,
			close: func(ctx context.Context, id string, t *tether.Tombstone) error {
				rec, err := s.Load(ctx, id)
				if err != nil {
					return err
				}
				mu.Lock()
				outs[id] = rec.Out
				mu.Unlock()
				return s.Close(ctx, id, 0, t)
			},
			create: func(ctx context.Context, rec *tether.Record) error {
				if err := s.Create(ctx, rec); err != nil {
					return err
				}
				mu.Lock()
				n := outs[rec.ID]
				mu.Unlock()
				for range n {
					if _, err := s.Append(ctx, rec.ID, tether.Message{Type: tether.Text, Data: []byte("stale")}); err != nil {
						return err
					}
				}
				return nil
			},
		}
	}},
}
