package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A value written before Close is read back after Open with the same passphrase.
func TestRoundTripAcrossCloseOpen(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "contact/alice", "alice's identity key")
	set(t, s, "empty", "")
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Delete([]byte("empty")) }); err != nil {
		t.Fatal(err)
	}
	set(t, s, "empty2", "")
	s = reopen(t, s, dir)
	if v, err := get(t, s, "contact/alice"); err != nil || v != "alice's identity key" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
	if _, err := get(t, s, "empty"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: %v, want ErrNotFound", err)
	}
	if v, err := get(t, s, "empty2"); err != nil || v != "" {
		t.Fatalf("empty value: %q, %v", v, err)
	}
	if _, err := get(t, s, "never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v, want ErrNotFound", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, keyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v, %v", fi.Mode(), err)
	}
}

// A wrong passphrase is refused and leaves every file byte-identical.
func TestWrongPassphraseChangesNothing(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "k", "v")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, dir)
	if _, err := Open(dir, []byte("wrong horse"), Options{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("Open with wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	after := hashTree(t, dir)
	if len(before) != len(after) {
		t.Fatalf("file set changed: %d files before, %d after", len(before), len(after))
	}
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

func TestOpenUninitialized(t *testing.T) {
	if _, err := Open(t.TempDir(), testPass, Options{}); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("empty dir: %v, want ErrNotInitialized", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), testPass, Options{}); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("missing dir: %v, want ErrNotInitialized", err)
	}
}

// Create never clobbers a store, open or closed, nor orphaned database files.
func TestCreateRefusesInitializedDir(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "k", "v")
	if _, err := Create(dir, testPass, Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create on open store: %v, want ErrExists", err)
	}
	s.Close()
	if _, err := Create(dir, []byte("other"), Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create on closed store: %v, want ErrExists", err)
	}
	if err := os.Remove(filepath.Join(dir, keyFileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, []byte("other"), Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over database files without key file: %v, want ErrExists", err)
	}
}

// Create leaves foreign files in the data dir alone.
func TestCreateKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Create(dir, testPass, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if b, err := os.ReadFile(filepath.Join(dir, "api.json")); err != nil || string(b) != "{}" {
		t.Fatalf("api.json: %q, %v", b, err)
	}
}

// Options below the floor are refused before anything is written.
func TestWeakOptionsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	for _, p := range []KDFParams{
		{Time: 1, MemoryKiB: 64 * 1024, Threads: 4},
		{Time: 3, MemoryKiB: 32 * 1024, Threads: 4},
		{Time: 3, MemoryKiB: 64 * 1024, Threads: 0},
	} {
		if _, err := Create(dir, testPass, Options{KDF: p}); !errors.Is(err, ErrWeakParams) {
			t.Errorf("Create with %+v: %v, want ErrWeakParams", p, err)
		}
		if _, err := Open(dir, testPass, Options{KDF: p}); !errors.Is(err, ErrWeakParams) {
			t.Errorf("Open with %+v: %v, want ErrWeakParams", p, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused Create left %s behind: %v", dir, err)
	}
}

// ChangePassphrase: the new passphrase opens the same data, the old one no longer does.
func TestChangePassphrase(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "k", "v")
	if err := s.ChangePassphrase([]byte("not it"), []byte("new")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: %v", err)
	}
	if err := s.ChangePassphrase(testPass, []byte("new")); err != nil {
		t.Fatal(err)
	}
	set(t, s, "k2", "v2")
	s.Close()
	if _, err := Open(dir, testPass, Options{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after change: %v, want ErrWrongPassphrase", err)
	}
	s2, err := Open(dir, []byte("new"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for k, want := range map[string]string{"k": "v", "k2": "v2"} {
		if v, err := get(t, s2, k); err != nil || v != want {
			t.Fatalf("%s after change: %q, %v", k, v, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".keyfile-*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

// After Close, every entry point reports ErrClosed and a second Close is harmless.
func TestUseAfterClose(t *testing.T) {
	s, _ := newTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := s.View(func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("View after Close: %v", err)
	}
	if err := s.RunGC(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("RunGC after Close: %v", err)
	}
	if err := s.ChangePassphrase(testPass, testPass); !errors.Is(err, ErrClosed) {
		t.Errorf("ChangePassphrase after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRunGC(t *testing.T) {
	s, _ := newTestStore(t)
	set(t, s, "k", "v")
	if err := s.RunGC(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestPutJSONIfChanged: a record is written when absent or different, not when the
// transaction already reads the same bytes there (its own write, the commit before, or
// Badger after a reopen); what is read afterwards is always the latest value.
func TestPutJSONIfChanged(t *testing.T) {
	s, dir := newTestStore(t)
	type rec struct{ N int }
	put := func(s *Store, n int) bool {
		t.Helper()
		var wrote bool
		if err := s.Update(context.Background(), func(tx *Tx) error {
			var err error
			wrote, err = PutJSONIfChanged(tx, []byte("r/1"), rec{n})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return wrote
	}
	if !put(s, 1) {
		t.Fatal("an absent record was not written")
	}
	if put(s, 1) {
		t.Error("the same record was written again")
	}
	if !put(s, 2) {
		t.Error("a changed record was not written")
	}
	s = reopen(t, s, dir)
	if put(s, 2) {
		t.Error("after reopen, the same record was written again")
	}
	if err := s.Update(context.Background(), func(tx *Tx) error {
		if err := PutJSON(tx, []byte("r/1"), rec{3}); err != nil {
			return err
		}
		if wrote, err := PutJSONIfChanged(tx, []byte("r/1"), rec{3}); err != nil || wrote {
			return fmt.Errorf("over the transaction's own write: wrote %v, %v", wrote, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := get(t, s, "r/1"); err != nil || v != `{"N":3}` {
		t.Fatalf("read %q, %v", v, err)
	}
}
