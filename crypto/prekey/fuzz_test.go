package prekey

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseBundle: no input panics ParseBundle; an accepted bundle verifies
// and re-encodes to the same bytes.
func FuzzParseBundle(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.Bundle))
		f.Add(unhex(f, v.LastResortBundle))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bd, err := ParseBundle(b)
		if err != nil {
			return
		}
		if !bytes.Equal(bd.Marshal(), b) {
			t.Fatal("ParseBundle is not canonical")
		}
		if err := bd.Verify(); err != nil {
			t.Fatalf("parsed bundle does not verify: %v", err)
		}
	})
}

// FuzzUnmarshalStore: no input panics UnmarshalStore; an accepted store is
// canonical and its lookups do not panic.
func FuzzUnmarshalStore(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(unhex(f, v.Store))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalStore(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("UnmarshalStore is not canonical")
		}
		s.Bundle()
		s.NeedsRotation(time.Unix(0, 0))
		s.SignedPrekeyPair(1, time.Unix(0, 0))
		s.Decapsulate(2, time.Unix(0, 0), make([]byte, 1088))
	})
}
