package ws

import (
	"fmt"
	"testing"

	gobwas "github.com/gobwas/ws"
)

// BenchmarkReadSmallMessages reads 100-byte masked messages on the server
// side from an in-memory connection that repeats a pre-encoded stream; one
// op is one message.
func BenchmarkReadSmallMessages(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = append(stream, enc(b, gobwas.OpBinary, true, true, payload(100, uint64(i)))...)
	}
	c := NewConn(&memConn{r: &cycleReader{data: stream}}, false, 1<<16, nil)
	n := 0
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	err := c.ReadMessage(func(op byte, p []byte) error {
		if len(p) != 100 {
			b.Fatalf("message of %d bytes", len(p))
		}
		if n++; n == b.N {
			return errStop
		}
		return nil
	})
	if err != errStop {
		b.Fatal(err)
	}
}

// BenchmarkAppendFrame encodes one frame into a reused buffer.
func BenchmarkAppendFrame(b *testing.B) {
	head := []byte{0x10, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
	for _, masked := range []bool{false, true} {
		for _, n := range []int{100, 4096} {
			b.Run(fmt.Sprintf("masked=%v/%d", masked, n), func(b *testing.B) {
				p := payload(n, 1)
				buf := make([]byte, 0, 2*n+64)
				b.SetBytes(int64(len(head) + n))
				b.ReportAllocs()
				for b.Loop() {
					buf = AppendFrame(buf[:0], masked, OpBinary, head, p)
				}
			})
		}
	}
}

// TestReadSmallMessagesNoAllocs pins what BenchmarkReadSmallMessages
// measures: a small message costs no allocation (it is read into a pooled
// buffer and handed out in place).
func TestReadSmallMessagesNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	var stream []byte
	for i := range 100 {
		stream = append(stream, enc(t, gobwas.OpBinary, true, true, payload(100+i, uint64(i)))...)
	}
	c := NewConn(&memConn{r: &cycleReader{data: stream}}, false, 1<<16, nil)
	stop := func(byte, []byte) error { return errStop }
	if n := testing.AllocsPerRun(1000, func() {
		if err := c.ReadMessage(stop); err != errStop {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}
