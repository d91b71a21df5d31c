package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// scanForSecrets fails the test if any file under dir contains one of the needles.
func scanForSecrets(t *testing.T, dir string, needles map[string][]byte) (files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for name, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s found in %s", name, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Nothing a user typed or wrote is readable in the store's files: not a message, not a
// secret, not a key name, not the passphrase — neither while the store is open (a
// SIGKILL can come right after Update returns) nor after Close.
func TestNoPlaintextAtRest(t *testing.T) {
	s, dir := newTestStore(t)
	needles := map[string][]byte{
		"message plaintext": []byte("meet me at the old harbour at 6, bring the documents"),
		"secret":            []byte("\x8a\x13SECRET-PREKEY-MATERIAL-7f3c2d\x00\x99"),
		"key name":          []byte("conversation/9d1c-harbour-plans"),
		"passphrase":        testPass,
	}
	big := bytes.Repeat(needles["message plaintext"], 200) // > valueThreshold: value log
	err := s.Update(context.Background(), func(tx *Tx) error {
		if err := tx.Set(needles["key name"], needles["message plaintext"]); err != nil {
			return err
		}
		if err := tx.Set([]byte("k2"), needles["secret"]); err != nil {
			return err
		}
		return tx.Set([]byte("media/1"), big)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := scanForSecrets(t, dir, needles); n < 3 {
		t.Fatalf("scanned only %d files while open", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scanForSecrets(t, dir, needles)
}

// A key file whose parameters were edited (raised, so above the floor) does not open.
func TestTamperedHeaderParams(t *testing.T) {
	s, dir := newTestStore(t)
	s.Close()
	path := filepath.Join(dir, keyFileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(b []byte){
		"time+1":  func(b []byte) { binary.BigEndian.PutUint32(b[10:], 4) },
		"threads": func(b []byte) { b[18] = 1 },
		"salt":    func(b []byte) { b[20] ^= 1 },
		"nonce":   func(b []byte) { b[60] ^= 1 },
		"wrapped": func(b []byte) { b[100] ^= 1 },
	}
	for name, edit := range edits {
		b := bytes.Clone(orig)
		edit(b)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(dir, testPass, Options{}); !errors.Is(err, ErrWrongPassphrase) {
			if err == nil {
				s.Close()
			}
			t.Errorf("%s edited: %v, want ErrWrongPassphrase", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"truncated": orig[:headerSize-1],
		"version":   append([]byte{}, append(append([]byte{}, orig[:8]...), append([]byte{2}, orig[9:]...)...)...),
		"magic":     append([]byte("XTRLSTOR"), orig[8:]...),
		"ceiling":   func() []byte { b := bytes.Clone(orig); binary.BigEndian.PutUint32(b[14:], 1<<31); return b }(),
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir, testPass, Options{}); !errors.Is(err, ErrCorruptHeader) {
			t.Errorf("%s: %v, want ErrCorruptHeader", name, err)
		}
	}
}

// A key file re-created with weaker parameters — the right data key correctly wrapped, as
// someone who once learned the passphrase could do to make later guessing cheap — is refused.
func TestDowngradedParamsRefused(t *testing.T) {
	s, dir := newTestStore(t)
	set(t, s, "k", "v")
	dk := bytes.Clone(s.dataKey)
	s.Close()
	weak := DefaultKDFParams()
	weak.MemoryKiB = 8 * 1024
	h, err := newHeader(testPass, dk, weak)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeHeader(dir, h, false); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, dir)
	if _, err := Open(dir, testPass, Options{}); !errors.Is(err, ErrWeakParams) {
		t.Fatalf("downgraded key file: %v, want ErrWeakParams", err)
	}
	// The same key re-wrapped at the floor opens: the refusal is the parameters alone.
	if after := hashTree(t, dir); len(after) != len(before) {
		t.Fatal("refused Open changed files")
	}
	h, err = newHeader(testPass, dk, DefaultKDFParams())
	if err != nil {
		t.Fatal(err)
	}
	if err := writeHeader(dir, h, false); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, testPass, Options{})
	if err != nil {
		t.Fatalf("re-wrapped at the floor: %v", err)
	}
	s2.Close()
}

// A sealed value moved to another key, or edited, fails authentication.
func TestRecordMovedOrEdited(t *testing.T) {
	s, _ := newTestStore(t)
	set(t, s, "balance/alice", "100")
	set(t, s, "balance/bob", "5")
	raw, err := s.rawGet([]byte("balance/alice"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("100")) && len(raw) == 3 {
		t.Fatal("value stored unsealed")
	}
	if err := s.rawSet([]byte("balance/bob"), raw); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, s, "balance/bob"); !errors.Is(err, ErrTampered) {
		t.Fatalf("moved record: %v, want ErrTampered", err)
	}
	err = s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("balance/")}, func(k, v []byte) (bool, error) { return true, nil })
	})
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("Iterate over moved record: %v, want ErrTampered", err)
	}
	// KeysOnly does not open values, so it still lists the key.
	err = s.View(func(tx *Tx) error {
		return tx.Iterate(IterOptions{Prefix: []byte("balance/"), KeysOnly: true}, func(k, v []byte) (bool, error) { return true, nil })
	})
	if err != nil {
		t.Fatalf("KeysOnly: %v", err)
	}
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x20
		if err := s.rawSet([]byte("balance/alice"), b); err != nil {
			t.Fatal(err)
		}
		if _, err := get(t, s, "balance/alice"); !errors.Is(err, ErrTampered) {
			t.Fatalf("bit flipped at %d: %v, want ErrTampered", i, err)
		}
	}
	for _, b := range [][]byte{nil, raw[:recordOverhead-1], raw[:len(raw)-1]} {
		s.rawSet([]byte("balance/alice"), b)
		if _, err := get(t, s, "balance/alice"); !errors.Is(err, ErrTampered) {
			t.Fatalf("truncated to %d: %v, want ErrTampered", len(b), err)
		}
	}
}
