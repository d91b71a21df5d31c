package store

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var testPass = []byte("correct horse battery staple")

// quietOptions returns Options whose logger drops everything below Warn.
func quietOptions() Options { return Options{} }

// newTestStore creates a store in a fresh temp dir and closes it at cleanup.
func newTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Create(dir, testPass, quietOptions())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func reopen(t testing.TB, s *Store, dir string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := Open(dir, testPass, quietOptions())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

func set(t testing.TB, s *Store, k, v string) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Set([]byte(k), []byte(v)) }); err != nil {
		t.Fatalf("Update set %q: %v", k, err)
	}
}

// get returns the value of k, or "" and the error.
func get(t testing.TB, s *Store, k string) (string, error) {
	t.Helper()
	var v []byte
	err := s.View(func(tx *Tx) error {
		var err error
		v, err = tx.Get([]byte(k))
		return err
	})
	return string(v), err
}

// hashTree returns a SHA-256 of every regular file under dir, by relative path.
func hashTree(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// blockWriter occupies the writer goroutine until the returned release is called, so that
// Updates started meanwhile queue up and form one batch.
func blockWriter(t testing.TB, s *Store) (release func()) {
	t.Helper()
	gate, started := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(context.Background(), func(tx *Tx) error {
			close(started)
			<-gate
			return nil
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("blocking Update: %v", err)
		}
	}
}

// waitQueued waits until n requests wait for the writer.
func waitQueued(t testing.TB, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d Updates queued", s.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
