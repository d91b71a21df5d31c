package shredkeys

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/node/store"
	"golang.org/x/crypto/argon2"
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

// The forensic tools below read the data directory as an attacker with the passphrase
// would: from the formats documented in node/store/doc.go and this package's doc.go, not
// through either package's API.

// dataKey unwraps the store's data key from DIR/keyfile with the passphrase.
func dataKey(t *testing.T, dir string) []byte {
	t.Helper()
	h, err := os.ReadFile(filepath.Join(dir, "keyfile"))
	if err != nil || len(h) != 123 || string(h[:8]) != "PTRLSTOR" {
		t.Fatalf("store key file: %d bytes, %v", len(h), err)
	}
	tm, mem, th := binary.BigEndian.Uint32(h[10:]), binary.BigEndian.Uint32(h[14:]), h[18]
	kek := argon2.IDKey(testPass, h[19:51], tm, mem, th, 32)
	a, err := chacha20poly1305.NewX(kek)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := a.Open(nil, h[51:75], h[75:], h[:75])
	if err != nil {
		t.Fatalf("unwrap data key: %v", err)
	}
	return dk
}

func subkey(t *testing.T, dk []byte, info string) []byte {
	t.Helper()
	k, err := hkdf.Key(sha256.New, dk, nil, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keysInKeyFile returns every bucket key a slot of DIR/shredkeys yields to the slot key.
func keysInKeyFile(t *testing.T, dir string, dk []byte) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "shredkeys"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := chacha20poly1305.NewX(subkey(t, dk, "petrel_v1_subkey_shredkeys_slot"))
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	for i := 0; 9+(i+1)*82 <= len(b); i++ {
		s := b[9+i*82 : 9+(i+1)*82]
		ad := binary.BigEndian.AppendUint32([]byte("petrel_v1_shredkeys_slot"), uint32(i))
		if pt, err := a.Open(nil, s[:24], s[24:], ad); err == nil {
			keys = append(keys, pt[10:])
		}
	}
	return keys
}

// badgerValues opens DIR/db directly with Badger's key (derived from the data key) and
// returns every version of every value still in the database, deleted ones included,
// opened from the store's record sealing: what someone with the passphrase and the files
// can read, compaction notwithstanding.
func badgerValues(t *testing.T, dir string, dk []byte) (values [][]byte, keys [][]byte) {
	t.Helper()
	opts := badger.DefaultOptions(filepath.Join(dir, "db")).
		WithEncryptionKey(subkey(t, dk, "petrel_v1_store_badger_aes256")).
		WithIndexCacheSize(1 << 20).WithLogger(nil)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open Badger directly: %v", err)
	}
	defer db.Close()
	rec, err := chacha20poly1305.NewX(subkey(t, dk, "petrel_v1_store_record"))
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) == 0 {
				continue // a deletion marker
			}
			ad := append([]byte{1}, item.Key()...)
			pt, err := rec.Open(nil, v[1:25], v[25:], ad)
			if err != nil {
				t.Errorf("a value at %q does not open with the record key", item.Key())
				continue
			}
			values = append(values, pt)
			keys = append(keys, item.KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return values, keys
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
