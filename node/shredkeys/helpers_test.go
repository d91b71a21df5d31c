package shredkeys

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"golang.org/x/crypto/chacha20poly1305"
)

var testPass = []byte("correct horse battery staple")

// clock is a movable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// node is a store and its keyring in a temp dir.
type node struct {
	dir string
	st  *store.Store
	kr  *Keyring
	clk *clock
}

func newNode(t testing.TB) *node {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Create(dir, testPass, store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{dir: dir, st: st, clk: &clock{now: time.Date(2026, 12, 3, 12, 10, 0, 0, time.UTC)}}
	n.kr, err = Open(context.Background(), st, n.opts())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	return n
}

func (n *node) opts() Options { return Options{Now: n.clk.Now} }

func (n *node) close() {
	if n.kr != nil {
		n.kr.Close()
		n.kr = nil
	}
	if n.st != nil {
		n.st.Close()
		n.st = nil
	}
}

// restart closes keyring and store and opens both again.
func (n *node) restart(t *testing.T) {
	t.Helper()
	n.close()
	var err error
	if n.st, err = store.Open(n.dir, testPass, store.Options{GCInterval: -1}); err != nil {
		t.Fatal(err)
	}
	if n.kr, err = Open(context.Background(), n.st, n.opts()); err != nil {
		t.Fatal(err)
	}
}

// put seals plaintext under b and stores it at key.
func (n *node) put(t *testing.T, b Bucket, key, plaintext string) {
	t.Helper()
	err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		sealed, err := n.kr.Seal(tx, b, []byte(key), []byte(plaintext))
		if err != nil {
			return err
		}
		return tx.Set([]byte(key), sealed)
	})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// get opens the content at key.
func (n *node) get(key string) (string, error) {
	var pt []byte
	err := n.st.View(func(tx *store.Tx) error {
		sealed, err := tx.Get([]byte(key))
		if err != nil {
			return err
		}
		pt, err = n.kr.Open(sealed, []byte(key))
		return err
	})
	return string(pt), err
}

// del deletes the content at key and releases it.
func (n *node) del(t *testing.T, key string) {
	t.Helper()
	err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		sealed, err := tx.Get([]byte(key))
		if err != nil {
			return err
		}
		if err := n.kr.Release(tx, sealed); err != nil {
			return err
		}
		return tx.Delete([]byte(key))
	})
	if err != nil {
		t.Fatalf("del %s: %v", key, err)
	}
}

func (n *node) refs(t *testing.T, b Bucket) (uint64, bool) {
	t.Helper()
	var r record
	var ok bool
	if err := n.st.View(func(tx *store.Tx) error {
		var err error
		r, ok, err = getRecord(tx, b)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return r.refs, ok
}

// bucketKeyBytes returns b's key as the keyring holds it (to search the disk for it).
func (n *node) bucketKeyBytes(t *testing.T, b Bucket) []byte {
	t.Helper()
	bk, err := n.kr.key(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(bk.key[:])
}

// rawFiles returns every regular file under dir by relative path.
func rawFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tryOpen tries every key on every value that looks like sealed content and returns the
// plaintexts that open.
func tryOpen(values, storeKeys, bucketKeys [][]byte) [][]byte {
	var out [][]byte
	for i, v := range values {
		b, err := BucketOf(v)
		if err != nil {
			continue
		}
		for _, k := range bucketKeys {
			a, err := chacha20poly1305.NewX(k)
			if err != nil {
				continue
			}
			if pt, err := a.Open(nil, v[10:34], v[34:], contentAD(b, storeKeys[i])); err == nil {
				out = append(out, pt)
			}
		}
	}
	return out
}

// dataKey, keysInKeyFile and badgerValues are node/store/storetest's forensic tools over a
// shredkeys test node's directory.
func dataKey(t *testing.T, dir string) []byte { return storetest.DataKey(t, dir, testPass) }

func keysInKeyFile(t *testing.T, dir string, dk []byte) [][]byte {
	return storetest.ShredKeys(t, dir, dk)
}

func badgerValues(t *testing.T, dir string, dk []byte) (values [][]byte, keys [][]byte) {
	for _, v := range storetest.AllVersions(t, dir, dk) {
		values, keys = append(values, v.Value), append(keys, v.Key)
	}
	return values, keys
}
