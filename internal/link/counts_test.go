package link

import "testing"

// TestCounts runs each transition of Counts from a given state and checks
// what it returns and the state after it.
func TestCounts(t *testing.T) {
	type result struct {
		arr  Arrival
		err  bool
		b    bool
		n    int
		seq  uint64
		none bool
	}
	cases := []struct {
		name string
		from Counts
		do   func(c *Counts) result
		want result
		to   Counts
	}{
		{"accept: the next seq", Counts{in: 4}, func(c *Counts) result { a, err := c.Accept(5); return result{arr: a, err: err != nil} },
			result{arr: Next}, Counts{in: 4}},
		{"accept: a repeat", Counts{in: 4}, func(c *Counts) result { a, err := c.Accept(4); return result{arr: a, err: err != nil} },
			result{arr: Repeat}, Counts{in: 4}},
		{"accept: a gap", Counts{in: 4}, func(c *Counts) result { a, err := c.Accept(6); return result{arr: a, err: err != nil} },
			result{err: true}, Counts{in: 4}},
		{"accept: seq 0", Counts{}, func(c *Counts) result { a, err := c.Accept(0); return result{arr: a, err: err != nil} },
			result{err: true}, Counts{}},
		{"take", Counts{in: 4, processed: 4}, func(c *Counts) result { c.Take(5); return result{} },
			result{}, Counts{in: 5, processed: 4}},
		{"done", Counts{in: 5, processed: 4}, func(c *Counts) result { c.Done(5); return result{} },
			result{}, Counts{in: 5, processed: 5}},
		{"saved moves up", Counts{processed: 5, saved: 2}, func(c *Counts) result { c.Saved(4); return result{} },
			result{}, Counts{processed: 5, saved: 4}},
		{"saved never moves down", Counts{processed: 5, saved: 4}, func(c *Counts) result { c.Saved(3); return result{} },
			result{}, Counts{processed: 5, saved: 4}},
		{"ack point alone: processed", Counts{in: 6, processed: 5, saved: 3}, func(c *Counts) result { return result{seq: c.AckPoint(false)} },
			result{seq: 5}, Counts{in: 6, processed: 5, saved: 3}},
		{"ack point shared: saved", Counts{in: 6, processed: 5, saved: 3}, func(c *Counts) result { return result{seq: c.AckPoint(true)} },
			result{seq: 3}, Counts{in: 6, processed: 5, saved: 3}},
		{"unsaved", Counts{processed: 5, saved: 3}, func(c *Counts) result { return result{b: c.Unsaved()} },
			result{b: true}, Counts{processed: 5, saved: 3}},
		{"all saved", Counts{processed: 5, saved: 5}, func(c *Counts) result { return result{b: c.Unsaved()} },
			result{}, Counts{processed: 5, saved: 5}},
		{"even: one in the middle", Counts{in: 6, processed: 5, saved: 5}, func(c *Counts) result { return result{b: c.Even(false)} },
			result{}, Counts{in: 6, processed: 5, saved: 5}},
		{"even: all processed", Counts{in: 6, processed: 6, saved: 5}, func(c *Counts) result { return result{b: c.Even(false)} },
			result{b: true}, Counts{in: 6, processed: 6, saved: 5}},
		{"even shared: processed, not saved", Counts{in: 6, processed: 6, saved: 5}, func(c *Counts) result { return result{b: c.Even(true)} },
			result{}, Counts{in: 6, processed: 6, saved: 5}},
		{"even shared: saved", Counts{in: 6, processed: 6, saved: 6}, func(c *Counts) result { return result{b: c.Even(true)} },
			result{b: true}, Counts{in: 6, processed: 6, saved: 6}},
		{"in flight", Counts{in: 7, processed: 4}, func(c *Counts) result { return result{n: c.InFlight()} },
			result{n: 3}, Counts{in: 7, processed: 4}},
		{"none in flight", Counts{in: 4, processed: 4}, func(c *Counts) result { return result{n: c.InFlight()} },
			result{}, Counts{in: 4, processed: 4}},
		{"begin", Counts{out: 3}, func(c *Counts) result { c.Begin(); return result{b: c.Appending()} },
			result{b: true}, Counts{out: 3, appending: 1}},
		{"end the last: numbered", Counts{out: 3, appending: 1}, func(c *Counts) result { return result{none: c.End(4), b: c.Appending()} },
			result{none: true}, Counts{out: 4}},
		{"end one of two", Counts{out: 3, appending: 2}, func(c *Counts) result { return result{none: c.End(4), b: c.Appending()} },
			result{b: true}, Counts{out: 4, appending: 1}},
		{"end without a number", Counts{out: 3, appending: 1}, func(c *Counts) result { return result{none: c.End(0)} },
			result{none: true}, Counts{out: 3}},
		{"end behind another's number", Counts{out: 5, appending: 2}, func(c *Counts) result { return result{none: c.End(4)} },
			result{}, Counts{out: 5, appending: 1}},
		{"number the next", Counts{out: 3, acked: 2}, func(c *Counts) result { return result{seq: c.Number(), n: int(c.Out())} },
			result{seq: 4, n: 4}, Counts{out: 4, acked: 2}},
		{"numbered elsewhere", Counts{out: 3}, func(c *Counts) result { c.Numbered(8); return result{} },
			result{}, Counts{out: 8}},
		{"numbered: never down", Counts{out: 8}, func(c *Counts) result { c.Numbered(6); return result{} },
			result{}, Counts{out: 8}},
		{"acked moves", Counts{out: 8, acked: 2}, func(c *Counts) result { return result{b: c.Acked(5), seq: c.LastAcked()} },
			result{b: true, seq: 5}, Counts{out: 8, acked: 5}},
		{"acked again: no move", Counts{out: 8, acked: 5}, func(c *Counts) result { return result{b: c.Acked(5)} },
			result{}, Counts{out: 8, acked: 5}},
		{"acked older: no move", Counts{out: 8, acked: 5}, func(c *Counts) result { return result{b: c.Acked(4)} },
			result{}, Counts{out: 8, acked: 5}},
		{"pending", Counts{out: 8, acked: 5}, func(c *Counts) result { return result{n: c.Pending()} },
			result{n: 3}, Counts{out: 8, acked: 5}},
		{"pending: all acknowledged", Counts{out: 8, acked: 8}, func(c *Counts) result { return result{n: c.Pending()} },
			result{}, Counts{out: 8, acked: 8}},
		{"pending: acknowledged past what this server numbered", Counts{out: 8, acked: 9}, func(c *Counts) result { return result{n: c.Pending()} },
			result{}, Counts{out: 8, acked: 9}},
		{"restore", Counts{in: 1, out: 1, appending: 1}, func(c *Counts) result { c.Restore(7, 9, 4); return result{seq: c.In(), n: int(c.Processed())} },
			result{seq: 7, n: 7}, Counts{in: 7, processed: 7, saved: 7, out: 9, acked: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.from
			if got := tc.do(&c); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if c != tc.to {
				t.Errorf("state %+v, want %+v", c, tc.to)
			}
		})
	}
}
