package prekey

import (
	"bytes"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
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

// FuzzParsePrekey: no input panics ParseSignedPrekey, ParseOneTimePrekey or
// ParsePQPrekey, and each accepted element re-encodes to the same bytes.
func FuzzParsePrekey(f *testing.F) {
	for _, v := range loadVectors(f) {
		b := unhex(f, v.Bundle)
		spk := b[1+identity.PublicSize:][:SignedPrekeySize]
		pq := b[1+identity.PublicSize+SignedPrekeySize:][:PQPrekeySize]
		f.Add(bytes.Clone(spk))
		f.Add(bytes.Clone(pq))
		f.Add(bytes.Clone(b[len(b)-OneTimePrekeySize:]))
		pq1024 := bytes.Clone(pq)
		pq1024[0] = KEMMLKEM1024
		f.Add(pq1024)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := ParseSignedPrekey(b); err == nil && !bytes.Equal(k.Bytes(), b) {
			t.Fatal("ParseSignedPrekey is not canonical")
		}
		if k, err := ParseOneTimePrekey(b); err == nil && !bytes.Equal(k.Bytes(), b) {
			t.Fatal("ParseOneTimePrekey is not canonical")
		}
		k, err := ParsePQPrekey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatal("ParsePQPrekey is not canonical")
		}
		if k.KEM() != KEMMLKEM768 || (k.Kind() != LastResort && k.Kind() != OneTime) {
			t.Fatalf("accepted KEM %#x kind %v", k.KEM(), k.Kind())
		}
		k.EncapsulationKey().Encapsulate() // parsed keys are usable
	})
}
