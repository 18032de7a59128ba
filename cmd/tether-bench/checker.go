package main

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
)

// Payloads are ASCII, so that every peer can carry them as text (a JSON
// string for Centrifugo, a string event for Socket.IO, a Tether text
// message):
//
//	<kind>:<stream>:<seq>:<unix nanos>:xxxx…
//
// kind is 'F' for a fan-out message (stream: the publisher) and 'U' for a
// client message (stream: the client's ID, unique in a run); an echo of a
// client message comes back unchanged. seq counts from 1 in each stream.
// The sender's clock stamps the message; every process of a run shares it.
const (
	kindFan = 'F'
	kindUp  = 'U'
)

// minPayload is the shortest payload: the header of the largest numbers.
const minPayload = 64

// appendPayload appends a payload of at least size bytes.
func appendPayload(b []byte, kind byte, stream, seq uint64, ts int64, size int) []byte {
	start := len(b)
	b = append(b, kind, ':')
	b = strconv.AppendUint(b, stream, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, ':')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

// header is a parsed payload header.
type header struct {
	kind        byte
	stream, seq uint64
	ts          int64
}

var errPayload = errors.New("not a tether-bench payload")

// parsePayload reads a payload's header. A JSON string (Centrifugo's
// publication data) is accepted with its quotes.
func parsePayload(p []byte) (header, error) {
	if len(p) > 0 && p[0] == '"' {
		p = p[1:]
	}
	var h header
	if len(p) < 2 || p[1] != ':' || (p[0] != kindFan && p[0] != kindUp) {
		return h, errPayload
	}
	h.kind = p[0]
	p = p[2:]
	var fields [3]uint64
	for i := range fields {
		j := bytes.IndexByte(p, ':')
		if j <= 0 || j > 20 {
			return h, errPayload
		}
		v, err := strconv.ParseUint(string(p[:j]), 10, 64)
		if err != nil {
			return h, errPayload
		}
		fields[i] = v
		p = p[j+1:]
	}
	h.stream, h.seq, h.ts = fields[0], fields[1], int64(fields[2])
	if h.seq == 0 {
		return h, errPayload
	}
	return h, nil
}

// maxMissing bounds the sequence numbers one stream remembers as missing;
// a bigger gap is counted, not remembered.
const maxMissing = 1 << 16

// seqCheck verifies one numbered stream as its receiver sees it: every
// number once, in order. A number above the next expected opens a gap
// whose numbers are remembered as missing; one of them arriving later is
// a reorder, any other number below the next expected is a duplicate.
type seqCheck struct {
	next    uint64 // next expected; 0 means 1
	missing map[uint64]struct{}
	over    uint64 // missing numbers not remembered (gaps beyond maxMissing)
	recv    uint64
	dup     uint64
	reorder uint64
}

func (s *seqCheck) see(seq uint64) {
	s.recv++
	if s.next == 0 {
		s.next = 1
	}
	switch {
	case seq == s.next:
		s.next++
	case seq > s.next:
		if s.missing == nil {
			s.missing = make(map[uint64]struct{})
		}
		for q := s.next; q < seq; q++ {
			if len(s.missing) >= maxMissing {
				s.over += seq - q
				break
			}
			s.missing[q] = struct{}{}
		}
		s.next = seq + 1
	default:
		if _, ok := s.missing[seq]; ok {
			delete(s.missing, seq)
			s.reorder++
		} else {
			s.dup++
		}
	}
}

// highest returns the highest number seen in order or after a gap.
func (s *seqCheck) highest() uint64 {
	if s.next == 0 {
		return 0
	}
	return s.next - 1
}

// complete reports whether numbers 1..total have all arrived.
func (s *seqCheck) complete(total uint64) bool {
	return s.highest() >= total && len(s.missing) == 0 && s.over == 0
}

// lost returns how many of 1..total never arrived, and calls fn (if not
// nil) with each remembered one, the tail included.
func (s *seqCheck) lost(total uint64, fn func(seq uint64)) uint64 {
	n := s.over + uint64(len(s.missing))
	if fn != nil {
		for q := range s.missing {
			fn(q)
		}
	}
	for q := s.highest() + 1; q <= total; q++ {
		n++
		if fn != nil {
			fn(q)
		}
	}
	return n
}

// tally sums what receivers saw.
type tally struct {
	Recv    uint64 `json:"recv"`
	Lost    uint64 `json:"lost"`
	Dup     uint64 `json:"dup"`
	Reorder uint64 `json:"reorder"`
}

func (t *tally) add(o tally) {
	t.Recv += o.Recv
	t.Lost += o.Lost
	t.Dup += o.Dup
	t.Reorder += o.Reorder
}

// hist is a latency histogram with 16 buckets per octave of microseconds:
// quantiles within about 4.5%, and mergeable by adding counts.
type hist struct {
	Counts []uint64 `json:"counts"`
}

const histPerOctave = 16

func histBucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us < 1 {
		return 0
	}
	return 1 + int(math.Log2(us)*histPerOctave)
}

// histValue is the middle of bucket i.
func histValue(i int) time.Duration {
	if i == 0 {
		return 0
	}
	us := math.Exp2((float64(i-1) + 0.5) / histPerOctave)
	return time.Duration(us * float64(time.Microsecond))
}

func (h *hist) add(d time.Duration) {
	i := histBucket(d)
	if i >= len(h.Counts) {
		h.Counts = slices.Grow(h.Counts, i+1-len(h.Counts))[:i+1]
	}
	h.Counts[i]++
}

func (h *hist) merge(o hist) {
	if len(o.Counts) > len(h.Counts) {
		h.Counts = slices.Grow(h.Counts, len(o.Counts)-len(h.Counts))[:len(o.Counts)]
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
}

func (h *hist) total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// quantile returns the q-quantile (0 < q ≤ 1), or 0 if empty.
func (h *hist) quantile(q float64) time.Duration {
	n := h.total()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			return histValue(i)
		}
	}
	return histValue(len(h.Counts) - 1)
}
