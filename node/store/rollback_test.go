package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// copyTree copies the directory src to dst (created), files and subdirectories, as a backup
// tool or an attacker with the files would.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func setValue(t *testing.T, s *Store, v string) {
	t.Helper()
	if err := s.Update(context.Background(), func(tx *Tx) error { return tx.Set([]byte("state"), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

func value(t *testing.T, s *Store) string {
	t.Helper()
	var out []byte
	if err := s.View(func(tx *Tx) error {
		var err error
		out, err = tx.Get([]byte("state"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// An older copy of db/ put back under a directory opened since is refused with
// ErrRolledBack, and writes nothing; removing the generation file accepts it knowingly.
func TestRollbackOfDatabaseDetected(t *testing.T) {
	s, dir := newTestStore(t)
	setValue(t, s, "old ratchet state")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "db")
	copyTree(t, filepath.Join(dir, dbDirName), backup)

	s2, err := Open(dir, testPass, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	setValue(t, s2, "new ratchet state")
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}

	// The old database files come back; the rest of the directory stays.
	if err := os.RemoveAll(filepath.Join(dir, dbDirName)); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, filepath.Join(dir, dbDirName))
	genBefore, err := os.ReadFile(filepath.Join(dir, generationFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testPass, quietOptions()); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("opening a rolled-back database: %v, want ErrRolledBack", err)
	}
	if genAfter, err := os.ReadFile(filepath.Join(dir, generationFileName)); err != nil || string(genAfter) != string(genBefore) {
		t.Fatalf("the refused open changed the generation file (%v)", err)
	}
	// Still refused the second time: the refusal wrote nothing.
	if _, err := Open(dir, testPass, quietOptions()); !errors.Is(err, ErrRolledBack) {
		t.Fatalf("second open: %v", err)
	}

	// The operator accepts the old copy by removing the generation file.
	if err := os.Remove(filepath.Join(dir, generationFileName)); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(dir, testPass, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	if got := value(t, s3); got != "old ratchet state" {
		t.Fatalf("after accepting: %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, generationFileName)); err != nil {
		t.Fatalf("generation file not written again: %v", err)
	}
}

// What cannot be detected, stated by a test so the documentation stays honest: a copy of
// the whole directory (generation file included) taken before the last open opens.
func TestRollbackOfWholeDirectoryNotDetected(t *testing.T) {
	s, dir := newTestStore(t)
	setValue(t, s, "old")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "whole")
	copyTree(t, dir, backup)
	s2, err := Open(dir, testPass, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	setValue(t, s2, "new")
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(backup, testPass, quietOptions())
	if err != nil {
		t.Fatalf("whole-directory copy: %v", err)
	}
	defer s3.Close()
	if got := value(t, s3); got != "old" {
		t.Fatalf("whole-directory copy holds %q", got)
	}
}

// A generation file that fails authentication (edited, or another store's) is a clear
// error, not a silent reset; the store's own keys are out of callers' reach.
func TestGenerationFileTamperedAndReservedKeys(t *testing.T) {
	s, dir := newTestStore(t)
	err := s.Update(context.Background(), func(tx *Tx) error { return tx.Set(generationKey, []byte("x")) })
	if !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Set of a reserved key: %v", err)
	}
	err = s.View(func(tx *Tx) error { _, err := tx.Get(generationKey); return err })
	if !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("Get of a reserved key: %v", err)
	}
	setValue(t, s, "v")
	n := 0
	if err := s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{}, func(k, _ []byte) (bool, error) {
			if reserved(k) {
				t.Errorf("Iterate showed %q", k)
			}
			n++
			return true, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("Iterate over everything saw %d keys, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, generationFileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testPass, quietOptions()); !errors.Is(err, ErrTampered) {
		t.Fatalf("tampered generation file: %v, want ErrTampered", err)
	}
}

// A store created where an earlier one was deleted without its generation file starts
// afresh: the stale file (under another data key) is not taken for a rollback.
func TestCreateOverStaleGenerationFile(t *testing.T) {
	s, dir := newTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{keyFileName, dbDirName} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := Create(dir, testPass, quietOptions())
	if err != nil {
		t.Fatalf("create over a stale generation file: %v", err)
	}
	setValue(t, s2, "fresh")
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(dir, testPass, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if got := value(t, s3); got != "fresh" {
		t.Fatalf("got %q", got)
	}
}
