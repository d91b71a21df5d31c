package identity

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// FuzzParsePublic: no input panics ParsePublic or ParsePublicText; an
// accepted public identity re-encodes to the same bytes.
func FuzzParsePublic(f *testing.F) {
	for _, v := range loadVectors(f) {
		b, _ := hex.DecodeString(v.Public)
		f.Add(b)
		f.Add([]byte(v.Text))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := ParsePublic(b); err == nil && !bytes.Equal(p.Bytes(), b) {
			t.Fatal("ParsePublic is not canonical")
		}
		if p, err := ParsePublicText(string(b)); err == nil && p.String() != string(b) {
			t.Fatal("ParsePublicText is not canonical")
		}
	})
}

// FuzzUnmarshal: no input panics Unmarshal; an accepted identity
// re-marshals to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	for _, v := range loadVectors(f) {
		b, _ := hex.DecodeString(v.Private)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, err := Unmarshal(b); err == nil && !bytes.Equal(id.Marshal(), b) {
			t.Fatal("Unmarshal is not canonical")
		}
	})
}
