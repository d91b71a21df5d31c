package sessions

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

func newID(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// issue runs Issue in its own transaction and parses the bundle.
func issue(t *testing.T, st *store.Store, id *identity.Identity, now time.Time) *prekey.Bundle {
	t.Helper()
	var raw []byte
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		var err error
		raw, err = Issue(tx, id, now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	b, err := prekey.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Identity().Equal(id.Public()) {
		t.Fatal("the bundle is not the node's")
	}
	return b
}

// TestIssueNeverHandsOutAKeyTwice: every bundle carries one-time keys no earlier requester
// (or relay) was given, across transactions and past a refill.
func TestIssueNeverHandsOutAKeyTwice(t *testing.T) {
	st, id, now := storetest.Open(t), newID(t), time.Now()
	seen := map[uint32]bool{}
	var relay RelayPrekeys
	if err := st.Update(context.Background(), func(tx *store.Tx) error {
		var err error
		relay, err = ForRelay(tx, id, now, 10)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(relay.OneTime) != 10 || len(relay.PQOneTime) != 10 {
		t.Fatalf("the relay got %d and %d one-time keys, want 10 of each", len(relay.OneTime), len(relay.PQOneTime))
	}
	for _, k := range relay.OneTime {
		seen[k.ID()] = true
	}
	for _, k := range relay.PQOneTime {
		seen[k.ID()] = true
	}
	for i := range 2 * prekey.PoolSize {
		b := issue(t, st, id, now)
		opk, ok := b.OneTimePrekey()
		if !ok {
			t.Fatalf("bundle %d has no one-time key: the pool was not topped up", i)
		}
		if seen[opk.ID()] {
			t.Fatalf("bundle %d hands out one-time key %d again", i, opk.ID())
		}
		seen[opk.ID()] = true
		if pq := b.PQPrekey(); pq.ID() != relay.LastResort.ID() {
			if seen[pq.ID()] {
				t.Fatalf("bundle %d hands out PQ key %d again", i, pq.ID())
			}
			seen[pq.ID()] = true
		}
	}
	if err := st.View(func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, id, now)
		if err != nil {
			return err
		}
		issued, err := LoadIssued(tx, ps)
		if err != nil {
			return err
		}
		if opks, pqs := IDs(ps); len(opks) > MaxHeld || len(pqs) > MaxHeld {
			t.Errorf("the pools hold %d and %d keys, over %d", len(opks), len(pqs), MaxHeld)
		}
		for _, k := range issued {
			if !seen[k] {
				t.Errorf("key %d is marked issued but was never handed out", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOneUpdateSpansSessionAndPrekeys: a transaction that issues keys and saves a session,
// then fails, leaves neither behind, and the cache entry it left is never used.
func TestOneUpdateSpansSessionAndPrekeys(t *testing.T) {
	st, alice, bob, now := storetest.Open(t), newID(t), newID(t), time.Now()
	var cache Cache
	b := issue(t, storetest.Open(t), bob, now) // bob's bundle, from bob's own store
	s0, _, err := pqxdh.Initiate(alice, b)
	if err != nil {
		t.Fatal(err)
	}
	errAbort := errors.New("abort")
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		if _, err := Issue(tx, alice, now); err != nil {
			return err
		}
		if err := cache.Save(tx, "c1", Current, s0); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatalf("update: %v", err)
	}
	if err := st.View(func(tx *store.Tx) error {
		if have, err := Exists(tx, "c1"); err != nil || have {
			t.Errorf("a failed transaction left a session (%v)", err)
		}
		if got, err := cache.Load(tx, "c1", Current); err != nil || got != nil {
			t.Errorf("Load after a failed transaction = %v, %v; want none", got, err)
		}
		if _, err := RawPrekeys(tx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a failed transaction left a prekey store (%v)", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCacheServesWhatTheStoreHolds: a saved session loads back as saved, as a clone the
// caller may advance without touching the stored state; the previous slot is its own; a
// deleted session is gone.
func TestCacheServesWhatTheStoreHolds(t *testing.T) {
	st, alice, bob, now := storetest.Open(t), newID(t), newID(t), time.Now()
	var cache Cache
	s0, _, err := pqxdh.Initiate(alice, issue(t, storetest.Open(t), bob, now))
	if err != nil {
		t.Fatal(err)
	}
	want := s0.Marshal()
	ctx := context.Background()
	if err := st.Update(ctx, func(tx *store.Tx) error { return cache.Save(tx, "c1", Current, s0) }); err != nil {
		t.Fatal(err)
	}
	var got *ratchet.State
	if err := st.View(func(tx *store.Tx) error {
		got, err = cache.Load(tx, "c1", Current)
		return err
	}); err != nil || got == nil || !bytes.Equal(got.Marshal(), want) {
		t.Fatalf("loaded %v, %v", got, err)
	}
	if _, err := got.Encrypt([]byte("advance the clone")); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		again, err := cache.Load(tx, "c1", Current)
		if err != nil || again == nil || !bytes.Equal(again.Marshal(), want) {
			t.Errorf("advancing a loaded state changed what loads next (%v)", err)
		}
		if prev, err := cache.Load(tx, "c1", Previous); err != nil || prev != nil {
			t.Errorf("previous slot = %v, %v; want none", prev, err)
		}
		return Delete(tx, "c1", Current)
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.View(func(tx *store.Tx) error {
		if s, err := cache.Load(tx, "c1", Current); err != nil || s != nil {
			t.Errorf("deleted session loads as %v, %v", s, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAccountVerifiesEveryNewKey: Account remembers a verified account key, but a key
// whose bytes differ from the one remembered in any way (another X25519 key under the same
// Ed25519 key and signature, a flipped signature bit) is verified anew and refused, and
// the key remembered still parses.
func TestAccountVerifiesEveryNewKey(t *testing.T) {
	var c Cache
	id := newID(t)
	good := id.Public().Bytes()
	ct := &Contact{}
	ct.Identity = good
	p, err := c.Account(ct)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Equal(id.Public()) {
		t.Fatal("Account returned another identity")
	}
	other := newID(t).Public().Bytes()
	forged := bytes.Clone(good)
	copy(forged[33:65], other[33:65]) // another X25519 key, the first one's signature
	badSig := bytes.Clone(good)
	badSig[len(badSig)-1] ^= 1
	for name, b := range map[string][]byte{"other X25519 key": forged, "flipped signature": badSig} {
		if _, err := c.Account(&Contact{Account: b}); !errors.Is(err, identity.ErrBadSignature) {
			t.Errorf("%s: err %v, want identity.ErrBadSignature", name, err)
		}
	}
	if _, err := c.Account(&Contact{Account: good[:len(good)-1]}); !errors.Is(err, identity.ErrMalformed) {
		t.Errorf("short key: err %v, want identity.ErrMalformed", err)
	}
	again, err := c.Account(ct)
	if err != nil || !again.Equal(id.Public()) {
		t.Fatalf("the remembered key: %v, %v", again, err)
	}
}
