package storetest

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// The forensic tools below read a data directory as an attacker with the passphrase would:
// from the formats documented in node/store/doc.go and node/shredkeys/doc.go, not through
// either package's API.

// DataKey unwraps the store's data key from DIR/keyfile with the passphrase.
func DataKey(t testing.TB, dir string, pass []byte) []byte {
	t.Helper()
	h, err := os.ReadFile(filepath.Join(dir, "keyfile"))
	if err != nil || len(h) != 123 || string(h[:8]) != "PTRLSTOR" {
		t.Fatalf("store key file: %d bytes, %v", len(h), err)
	}
	tm, mem, th := binary.BigEndian.Uint32(h[10:]), binary.BigEndian.Uint32(h[14:]), h[18]
	kek := argon2.IDKey(pass, h[19:51], tm, mem, th, 32)
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

// Subkey derives the data key's subkey named info (HKDF-SHA256, as node/store does).
func Subkey(t testing.TB, dk []byte, info string) []byte {
	t.Helper()
	k, err := hkdf.Key(sha256.New, dk, nil, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Value is one version of one Badger value, opened from the store's record sealing.
type Value struct {
	Key, Value []byte
}

// AllVersions opens DIR/db directly with Badger's key (derived from the data key) and
// returns every version of every value still in it, deleted ones included: what someone
// with the passphrase and the files can read, compaction notwithstanding.
func AllVersions(t testing.TB, dir string, dk []byte) []Value {
	t.Helper()
	opts := badger.DefaultOptions(filepath.Join(dir, "db")).
		WithEncryptionKey(Subkey(t, dk, "petrel_v1_store_badger_aes256")).
		WithIndexCacheSize(1 << 20).WithLogger(nil)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("open Badger directly: %v", err)
	}
	defer db.Close()
	rec, err := chacha20poly1305.NewX(Subkey(t, dk, "petrel_v1_store_record"))
	if err != nil {
		t.Fatal(err)
	}
	var out []Value
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
			if len(v) < 25 {
				t.Errorf("a value at %q is too short to be sealed", item.Key())
				continue
			}
			pt, err := rec.Open(nil, v[1:25], v[25:], append([]byte{1}, item.Key()...))
			if err != nil {
				t.Errorf("a value at %q does not open with the record key", item.Key())
				continue
			}
			out = append(out, Value{item.KeyCopy(nil), pt})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ShredKeys returns every bucket key a slot of DIR/shredkeys yields to the slot key (none
// when the file does not exist; it can be read while the node runs).
func ShredKeys(t testing.TB, dir string, dk []byte) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "shredkeys"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := chacha20poly1305.NewX(Subkey(t, dk, "petrel_v1_subkey_shredkeys_slot"))
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
