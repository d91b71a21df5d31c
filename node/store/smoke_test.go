package store

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Set([]byte("a"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, []byte("pw"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.View(func(tx *Tx) error {
		v, err := tx.Get([]byte("a"))
		if err != nil || string(v) != "1" {
			t.Fatal(v, err)
		}
		return nil
	})
}
