package sessions

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/store"
)

// Session slots of a contact: the current session and the one before it (kept while the
// contact may still send under it).
const (
	Current  = 0
	Previous = 1
)

// Key is the store key of session slot i of contact cid.
func Key(cid string, i int) []byte { return fmt.Appendf(nil, "ss/%s/%d", cid, i) }

// Exists reports whether contact cid has a current session.
func Exists(tx *store.Tx, cid string) (bool, error) {
	_, err := tx.Get(Key(cid, Current))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes session slot i of contact cid.
func Delete(tx *store.Tx, cid string, i int) error { return tx.Delete(Key(cid, i)) }

// maxCached bounds the cache (it starts over when full).
const maxCached = 512

// Cache keeps, for each stored session, the state last loaded or saved beside its stored
// bytes, so that loading it again (every send, every received batch) clones it instead of
// running ratchet.Unmarshal, whose X25519 key parse costs a scalar multiplication. An entry
// is used only when the bytes in the store are identical to its own, so one left by a
// transaction that then failed, or by a session since replaced or deleted, is never used.
// It holds the same secrets as the store's newest state: each entry is replaced when the
// session advances. It also keeps the contacts' verified account keys (Account). The zero
// Cache is empty and ready.
type Cache struct {
	mu       sync.Mutex
	m        map[string]entry                    // Key → entry
	accounts map[string]*identity.PublicIdentity // wire form → verified (accounts.go)
}

type entry struct {
	raw []byte
	st  *ratchet.State // never handed out: callers get clones
}

func (c *Cache) put(key string, raw []byte, st *ratchet.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]entry{}
	}
	c.m[key] = entry{raw: raw, st: st.Clone()}
}

func (c *Cache) get(key string, raw []byte) *ratchet.State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok && bytes.Equal(e.raw, raw) {
		return e.st.Clone()
	}
	return nil
}

// Load returns session slot i of contact cid as tx sees it, or nil if there is none. The
// state is the caller's own (a clone): advancing it changes nothing until Save.
func (c *Cache) Load(tx *store.Tx, cid string, i int) (*ratchet.State, error) {
	k := Key(cid, i)
	b, err := tx.Get(k)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st := c.get(string(k), b); st != nil {
		return st, nil
	}
	st, err := ratchet.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	c.put(string(k), b, st)
	return st, nil
}

// Save stores session slot i of contact cid in tx (unless tx holds it unchanged: a
// received batch saves its previous session, which rarely moves, with its current one).
func (c *Cache) Save(tx *store.Tx, cid string, i int, st *ratchet.State) error {
	k := Key(cid, i)
	b := st.Marshal()
	if old, err := tx.Get(k); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := tx.Set(k, b); err != nil {
		return err
	}
	c.put(string(k), b, st)
	return nil
}
