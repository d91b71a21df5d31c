package store

import (
	"bytes"
	"testing"
)

// TestDeriveKey: a subkey is stable across opens, distinct per info, and the store's own
// record and Badger keys cannot be obtained through it.
func TestDeriveKey(t *testing.T) {
	s, dir := newTestStore(t)
	a, err := s.DeriveKey("petrel_v1_subkey_a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.DeriveKey("petrel_v1_subkey_b")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("subkeys of two names: %x %x", a, b)
	}
	for _, info := range []string{infoRecordKey, infoBadgerKey, "petrel_v1_subkey_", ""} {
		if _, err := s.DeriveKey(info); err == nil {
			t.Errorf("DeriveKey(%q) succeeded", info)
		}
	}
	s = reopen(t, s, dir)
	a2, err := s.DeriveKey("petrel_v1_subkey_a")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, a2) {
		t.Fatal("a subkey changed across opens")
	}
	if s.Dir() != dir {
		t.Fatalf("Dir() = %q, want %q", s.Dir(), dir)
	}
	s.Close()
	if _, err := s.DeriveKey("petrel_v1_subkey_a"); err == nil {
		t.Fatal("DeriveKey after Close succeeded")
	}
}
