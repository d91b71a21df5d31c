package ratchet

import (
	"bytes"
	"testing"
)

// seedVectors adds every message and state from the known-answer vectors.
func seedVectors(f *testing.F, messages, states bool) {
	for _, v := range loadVectors(f) {
		for _, e := range v.Events {
			if messages && e.Message != "" {
				f.Add(unhex(f, e.Message))
			}
		}
		if states {
			f.Add(unhex(f, v.AliceState))
			f.Add(unhex(f, v.BobState))
		}
	}
}

// FuzzParseHeader: no input panics the header parser, and a parsed header
// re-encodes to the bytes it came from.
func FuzzParseHeader(f *testing.F) {
	seedVectors(f, true, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		if err != nil {
			return
		}
		if enc := appendHeader(nil, &h); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("header re-encodes to %x, parsed from %x", enc, b[:n])
		}
	})
}

// FuzzUnmarshalState: no input panics Unmarshal; an accepted state is
// canonical (re-marshals to the same bytes) and usable without panics.
func FuzzUnmarshalState(f *testing.F) {
	seedVectors(f, false, true)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("Marshal(Unmarshal(b)) != b")
		}
		if m, err := s.Encrypt([]byte("x")); err == nil {
			s.Decrypt(m) // own message: must fail cleanly, not panic
		}
	})
}

// FuzzDecrypt: garbage and mutated messages never panic Decrypt, and a
// failed Decrypt leaves the state byte-identical.
func FuzzDecrypt(f *testing.F) {
	seedVectors(f, true, false)
	vs := loadVectors(f)
	snap := unhex(f, vs[0].BobState)
	f.Fuzz(func(t *testing.T, m []byte) {
		s, err := Unmarshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decrypt(m); err != nil && !bytes.Equal(s.Marshal(), snap) {
			t.Fatalf("failed Decrypt (%v) changed the state", err)
		}
	})
}
