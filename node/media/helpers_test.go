package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
)

const testPass = "media test passphrase"

// testStore is a media store over a real Badger store in a temp dir.
type testStore struct {
	*Store
	db  *store.Store
	dir string
}

func newTestStore(t testing.TB, opts Options) *testStore {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Create(filepath.Join(dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return openTestStore(t, dir, db, opts)
}

func openTestStore(t testing.TB, dir string, db *store.Store, opts Options) *testStore {
	t.Helper()
	m, err := New(db, filepath.Join(dir, "media"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testStore{Store: m, db: db, dir: dir}
	t.Cleanup(func() { db.Close() })
	return ts
}

// reopen closes the store and opens it again from disk.
func (ts *testStore) reopen(t testing.TB, opts Options) *testStore {
	t.Helper()
	if err := ts.db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(ts.dir, "store"), []byte(testPass), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return openTestStore(t, ts.dir, db, opts)
}

// randomBytes is n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readAll(t testing.TB, m *Store, id string) []byte {
	t.Helper()
	r, err := m.Open(id)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// chunkFiles counts the chunk files in a media directory.
func chunkFiles(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "media", "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if len(e.Name()) == 64 {
			n++
		}
	}
	return n
}

// assertNoPlaintext fails if any file under dir contains any of the 4 KiB patterns.
func assertNoPlaintext(t testing.TB, dir string, patterns ...[]byte) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, pat := range patterns {
			if bytes.Contains(b, pat) {
				t.Errorf("%s holds plaintext (%d-byte pattern found)", p, len(pat))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s to scan", dir)
	}
}
