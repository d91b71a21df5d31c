package store

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseHeader: the key-file parser never panics, accepts only what it would write
// (parse → marshal is the identity), and never accepts parameters below the floor.
func FuzzParseHeader(f *testing.F) {
	h := &header{params: DefaultKDFParams()}
	for i := range h.salt {
		h.salt[i] = byte(i)
	}
	f.Add(h.marshal())
	f.Add([]byte(headerMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptHeader) && !errors.Is(err, ErrWeakParams) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !bytes.Equal(h.marshal(), b) {
			t.Fatalf("parse/marshal not the identity:\n in  %x\n out %x", b, h.marshal())
		}
		if err := h.params.check(); err != nil {
			t.Fatalf("accepted params %+v: %v", h.params, err)
		}
	})
}

// FuzzOpenRecord: opening garbage as a sealed record never panics and always fails with
// ErrTampered; sealing the same bytes under the same key round-trips, and under another
// key does not open.
func FuzzOpenRecord(f *testing.F) {
	dk := bytes.Repeat([]byte{7}, dataKeySize)
	s, err := newSealer(dk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("conv/1/msg/1"), s.seal([]byte("conv/1/msg/1"), []byte("hello")))
	f.Add([]byte("k"), []byte{recordVersion})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, key, sealed []byte) {
		// Only a genuine seal under this key opens (the fuzzer cannot forge one; the
		// seeds include one); every failure is ErrTampered.
		if _, err := s.open(key, sealed); err != nil && !errors.Is(err, ErrTampered) {
			t.Fatalf("open(garbage): %v, want ErrTampered", err)
		}
		sealedAgain := s.seal(key, sealed)
		pt, err := s.open(key, sealedAgain)
		if err != nil || !bytes.Equal(pt, sealed) {
			t.Fatalf("round trip: %q, %v", pt, err)
		}
		if _, err := s.open(append(bytes.Clone(key), 0), sealedAgain); !errors.Is(err, ErrTampered) {
			t.Fatalf("record opened under another key: %v", err)
		}
	})
}
