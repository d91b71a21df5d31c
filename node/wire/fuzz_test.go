package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
)

// The fuzz targets are seeded from testdata/vectors.json (valid and invalid inputs) and
// from the corpus in testdata/fuzz/<target>/. Run one with
//
//	go test -fuzz=FuzzParseDeliver -fuzztime=1m ./node/wire

// seedFuzz adds every vector input for decoder.
func seedFuzz(f *testing.F, decoder string) {
	vs := loadVectors(f)
	for _, v := range vs.Invalid {
		if v.Decoder == decoder {
			f.Add(v.input(f))
		}
	}
	switch decoder {
	case "deliver":
		for _, v := range vs.Deliver {
			f.Add(unhex(f, v.Body))
		}
	case "ack":
		for _, v := range vs.Ack {
			f.Add(unhex(f, v.Body))
		}
	case "frame":
		// A stream of every valid frame, and each one alone.
		var all []byte
		for _, v := range vs.Deliver {
			f.Add(unhex(f, v.Frame))
			all = append(all, unhex(f, v.Frame)...)
		}
		for _, v := range vs.Ack {
			all = append(all, unhex(f, v.Frame)...)
		}
		f.Add(all)
	case "content":
		for _, v := range vs.Content {
			f.Add([]byte(v.JSON))
		}
	}
}

// uvarintIsMinimal reports whether the uvarint at the start of b is in its shortest form.
// encoding/binary accepts padded forms (0x80 0x00 for 0), so the wire's length fields have
// more than one encoding; re-encoding gives the shortest.
func uvarintIsMinimal(b []byte) bool {
	n, k := binary.Uvarint(b)
	return k > 0 && k == len(binary.AppendUvarint(nil, n))
}

// FuzzParseDeliver: no input panics ParseDeliver; an accepted Deliver re-encodes to the
// same bytes (up to a padded initial-length uvarint) and parses back to itself.
func FuzzParseDeliver(f *testing.F) {
	seedFuzz(f, "deliver")
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		d, err := ParseDeliver(b)
		if !bytes.Equal(b, in) {
			t.Fatal("ParseDeliver modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with %v, not ErrMalformed", err)
			}
			if d != nil {
				t.Fatal("refused Deliver returned")
			}
			return
		}
		if len(d.Message) == 0 {
			t.Fatal("accepted a Deliver without message")
		}
		if d.Initial != nil && len(d.Initial) == 0 {
			t.Fatal("empty non-nil Initial")
		}
		re := AppendDeliver(nil, d)
		if uvarintIsMinimal(b[1+IDSize:]) {
			if !bytes.Equal(re, b) {
				t.Fatalf("accepted Deliver re-encodes differently:\n got %x\nwant %x", re, b)
			}
		} else if len(re) >= len(b) || !bytes.Equal(re[:1+IDSize], b[:1+IDSize]) || !bytes.HasSuffix(b, re[len(re)-len(d.Initial)-len(d.Message):]) {
			t.Fatalf("padded length: re-encoding %x does not match %x", re, b)
		}
		d2, err := ParseDeliver(re)
		if err != nil {
			t.Fatalf("re-encoded Deliver refused: %v", err)
		}
		if !reflect.DeepEqual(d2, d) {
			t.Fatalf("re-encoded Deliver parses to %+v, want %+v", d2, d)
		}
	})
}

// FuzzParseAck: no input panics ParseAck; an accepted Ack re-encodes to exactly its input
// and has a known status.
func FuzzParseAck(f *testing.F) {
	seedFuzz(f, "ack")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAck(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with %v, not ErrMalformed", err)
			}
			return
		}
		if re := AppendAck(nil, a); !bytes.Equal(re, b) {
			t.Fatalf("accepted Ack re-encodes as %x, want %x", re, b)
		}
		switch a.Status {
		case AckStored, AckBlocked, AckUndecryptable, AckRefused:
		default:
			t.Fatalf("accepted unknown status %d", a.Status)
		}
	})
}

// FuzzReadFrame reads frames from the fuzz bytes until an error: no input panics, no frame
// is over MaxFrame, each frame re-encodes to the bytes it was read from (up to a padded
// length uvarint), and io.EOF comes only at the end of the input, on a frame boundary.
func FuzzReadFrame(f *testing.F) {
	seedFuzz(f, "frame")
	f.Fuzz(func(t *testing.T, stream []byte) {
		src := bytes.NewReader(stream)
		r := bufio.NewReaderSize(src, 16) // small, to cross buffer refills
		consumed := func() int { return len(stream) - src.Len() - r.Buffered() }
		var buf []byte
		for {
			start := consumed()
			b, err := ReadFrame(r, buf)
			if err != nil {
				if b != nil {
					t.Fatal("frame returned with an error")
				}
				if err == io.EOF && start != len(stream) {
					t.Fatalf("io.EOF at offset %d of %d: a truncated frame taken for a clean end", start, len(stream))
				}
				return
			}
			if len(b) > MaxFrame {
				t.Fatalf("frame of %d bytes", len(b))
			}
			raw := stream[start:consumed()]
			if re := frameBytes(t, b); !bytes.Equal(re, raw) {
				if uvarintIsMinimal(raw) || len(re) >= len(raw) || !bytes.HasSuffix(raw, b) {
					t.Fatalf("frame at %d re-encodes as %x, read from %x", start, re, raw)
				}
			}
			buf = b
		}
	})
}

// FuzzParseContent: no input panics ParseContent; an accepted content marshals (Marshal
// applies the same rules), its encoding parses back to the same content, and that
// encoding is a fixed point (Marshal ∘ ParseContent changes nothing more).
func FuzzParseContent(f *testing.F) {
	seedFuzz(f, "content")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseContent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("refused with %v, not ErrMalformed", err)
			}
			if c != nil {
				t.Fatal("refused content returned")
			}
			return
		}
		re, err := c.Marshal()
		if err != nil {
			t.Fatalf("accepted content does not marshal: %v", err)
		}
		c2, err := ParseContent(re)
		if err != nil {
			t.Fatalf("re-encoded content %s refused: %v", re, err)
		}
		if !sameContent(c, c2) {
			t.Fatalf("re-encoded content parses to %+v, want %+v", c2, c)
		}
		re2, err := c2.Marshal()
		if err != nil || !bytes.Equal(re2, re) {
			t.Fatalf("second encoding %s differs from %s (%v)", re2, re, err)
		}
	})
}

// sameContent compares contents, taking an empty id list as no list (omitempty drops it).
func sameContent(a, b *Content) bool {
	a2, b2 := *a, *b
	if len(a2.IDs) == 0 {
		a2.IDs = nil
	}
	if len(b2.IDs) == 0 {
		b2.IDs = nil
	}
	return reflect.DeepEqual(&a2, &b2)
}
