package wire_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/tether-ws/tether/internal/wire"
)

// FuzzDecode checks that Decode never panics, that every error wraps
// ErrMalformed, and that a decoded frame survives re-encoding: encoding it
// with its Append* function and decoding again yields an identical Frame,
// and that encoding is canonical (a fixpoint, never longer than the input,
// which may carry trailing bytes or overlong varints).
func FuzzDecode(f *testing.F) {
	g := loadGolden(f)
	for _, gf := range g.Frames {
		b := mustHex(f, gf.Name, gf.Hex)
		f.Add(b)
		f.Add(append(b, 0x80)) // trailing bytes
	}
	for _, gi := range g.Invalid {
		f.Add(mustHex(f, gi.Name, gi.Hex))
	}
	f.Add([]byte{byte(wire.TypeAck), 0x80, 0x00}) // overlong varint for 0

	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		fr, err := wire.Decode(data)
		if !bytes.Equal(in, data) {
			t.Fatalf("Decode modified its input")
		}
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("Decode(%x): error %v does not wrap ErrMalformed", data, err)
			}
			return
		}
		checkShape(t, &fr)

		enc := encodeFrame(&fr)
		slack := 0
		if fr.Type == wire.TypeHello && fr.Hello.Attempt == 0 {
			slack = 1 // a Hello may omit its last field; the encoder writes it
		}
		if len(enc) > len(data)+slack {
			t.Fatalf("Decode(%x) re-encodes longer: %x", data, enc)
		}
		fr2, err := wire.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%x) = %+v, but its encoding %x does not decode: %v", data, fr, enc, err)
		}
		if !reflect.DeepEqual(fr, fr2) {
			t.Fatalf("round trip of %x through %x:\n got %+v\nwant %+v", data, enc, fr2, fr)
		}
		if enc2 := encodeFrame(&fr2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not canonical: %x then %x", enc, enc2)
		}
	})
}
