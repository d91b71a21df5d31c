package blobdir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A blob reads back as written; one edited, cut or grown on disk is ErrCorrupt, one never
// written ErrMissing; Has checks the size, Remove is idempotent, List names only blobs.
func TestBlobsAreCheckedAgainstTheirNames(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(dir, 64)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("sealed chunk bytes")
	h := sha256.Sum256(data)
	if err := d.Put(h, data); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncDir(); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(h, nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %q, %v", got, err)
	}
	if !d.Has(h, len(data)) || d.Has(h, len(data)+1) {
		t.Fatal("Has does not check the size")
	}
	if _, err := d.Get(sha256.Sum256([]byte("other")), nil); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing blob: %v", err)
	}
	p := d.path(h)
	if err := os.WriteFile(p, []byte("sealed chunk bytez"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(h, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("edited blob: %v", err)
	}
	if err := os.WriteFile(p, bytes.Repeat([]byte{1}, 65), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(h, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("blob over the bound: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp-123"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	var listed [][32]byte
	if err := d.List(func(h [32]byte, _ string) { listed = append(listed, h) }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != h {
		t.Fatalf("listed %x", listed)
	}
	if err := d.Remove(h); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(h); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if d.Has(h, 65) {
		t.Fatal("removed blob still there")
	}
}

// Put leaves an existing blob of the same hash as it is (content addressed).
func TestPutKeepsAnExistingBlob(t *testing.T) {
	d, err := Open(t.TempDir(), 64)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("chunk")
	h := sha256.Sum256(data)
	if err := d.Put(h, data); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(h, []byte("not the same bytes")); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get(h, nil); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %q, %v", got, err)
	}
}
