package store

import (
	"context"
	"errors"
	"testing"
)

// Writes counts the Updates whose writes landed, and only those.
func TestWritesCountsLandedUpdates(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := context.Background()
	if n := s.Writes(); n != 0 {
		t.Fatalf("a fresh store counts %d writes", n)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Set([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	// Reads only, a failed Update, a View: none of them wrote.
	if err := s.Update(ctx, func(tx *Tx) error { _, err := tx.Get([]byte("k")); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.Set([]byte("k"), []byte("w")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if err := s.View(func(tx *Tx) error { _, err := tx.Get([]byte("k")); return err }); err != nil {
		t.Fatal(err)
	}
	if n := s.Writes(); n != 1 {
		t.Fatalf("Writes = %d after one writing Update, want 1", n)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.Delete([]byte("k")) }); err != nil {
		t.Fatal(err)
	}
	if n := s.Writes(); n != 2 {
		t.Fatalf("Writes = %d after a Delete, want 2", n)
	}
}
