package inbox

import (
	"bytes"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
)

var testNow = time.Unix(1_800_000_000, 0)

func now() time.Time { return testNow }

// bundleOf issues a prekey bundle of id from its store, as its prekey handler would.
func bundleOf(t *testing.T, st *store.Store, id *identity.Identity) *prekey.Bundle {
	t.Helper()
	var raw []byte
	update(t, st, func(tx *store.Tx) error {
		var err error
		raw, err = sessions.Issue(tx, id, now())
		return err
	})
	b, err := prekey.ParseBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// initiate starts alice's session to bob's bundle and encrypts pt: an initial message and
// its first ratchet message.
func initiate(t *testing.T, alice *identity.Identity, bundle *prekey.Bundle, pt string) (*ratchet.State, []byte, []byte) {
	t.Helper()
	st, initial, err := pqxdh.Initiate(alice, bundle)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.Encrypt([]byte(pt))
	if err != nil {
		t.Fatal(err)
	}
	return st, initial, msg
}

// respond runs a fresh Responder (one receiving transaction) and, when the message
// decrypted, uses its prekeys up and saves them as the façade does.
func respond(t *testing.T, st *store.Store, bob *identity.Identity, initial, msg []byte) (*ratchet.State, []byte) {
	t.Helper()
	r := &Responder{ID: bob, Now: now, Log: discard()}
	var s *ratchet.State
	var pt []byte
	update(t, st, func(tx *store.Tx) error {
		var used []uint32
		var err error
		if s, used, pt, err = r.Respond(tx, initial, msg); err != nil || s == nil {
			return err
		}
		if err := r.Consume(used); err != nil {
			return err
		}
		return r.Save(tx)
	})
	return s, pt
}

// TestResponderUsesOneTimeKeysUpOnce: an initial message starts a session once; the same
// initial message replayed later (another session over the same one-time keys) is refused.
func TestResponderUsesOneTimeKeysUpOnce(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	alice, bob := newID(t), newID(t)
	_, initial, msg := initiate(t, alice, bundleOf(t, st, bob), "hello bob")
	s, pt := respond(t, st, bob, initial, msg)
	if s == nil || string(pt) != "hello bob" {
		t.Fatalf("the initial message did not start a session: %v %q", s, pt)
	}
	if s, _ := respond(t, st, bob, initial, msg); s != nil {
		t.Fatal("a replayed initial message started a second session on used-up one-time keys")
	}
}

// TestResponderForgedMessageBurnsNothing: an initial message whose ratchet message does
// not decrypt (a forgery riding on a real initial message) starts nothing and uses no key
// up: the genuine message still starts the session afterwards.
func TestResponderForgedMessageBurnsNothing(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	alice, bob := newID(t), newID(t)
	_, initial, msg := initiate(t, alice, bundleOf(t, st, bob), "hello bob")
	var before []byte
	_ = st.View(func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, bob, now())
		before = ps.Marshal()
		return err
	})
	forged := bytes.Clone(msg)
	forged[len(forged)-1] ^= 1
	if s, _ := respond(t, st, bob, initial, forged); s != nil {
		t.Fatal("a forged message started a session")
	}
	if s, _ := respond(t, st, bob, []byte("not an initial message"), msg); s != nil {
		t.Fatal("garbage started a session")
	}
	_ = st.View(func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, bob, now())
		if err == nil && !bytes.Equal(ps.Marshal(), before) {
			t.Error("a refused initial message changed the prekey store")
		}
		return err
	})
	if s, pt := respond(t, st, bob, initial, msg); s == nil || string(pt) != "hello bob" {
		t.Fatal("the genuine message no longer starts the session")
	}
}

// TestSessionsSimultaneousStartAgree: when both start a session at once, both keep the same
// one, and what arrives on the other still decrypts (as Previous).
func TestSessionsSimultaneousStartAgree(t *testing.T) {
	t.Parallel()
	stA, _ := openStore(t)
	stB, _ := openStore(t)
	alice, bob := newID(t), newID(t)
	aOwn, aInitial, aMsg := initiate(t, alice, bundleOf(t, stB, bob), "from alice")
	bOwn, bInitial, bMsg := initiate(t, bob, bundleOf(t, stA, alice), "from bob")
	bFromA, _ := respond(t, stB, bob, aInitial, aMsg)
	aFromB, _ := respond(t, stA, alice, bInitial, bMsg)
	if bFromA == nil || aFromB == nil {
		t.Fatal("an initial message did not decrypt")
	}
	a := Sessions{Current: aOwn}
	b := Sessions{Current: bOwn}
	a.Take(aFromB)
	b.Take(bFromA)
	if a.Current.Params().InitiatorKey != b.Current.Params().InitiatorKey {
		t.Fatal("the two sides kept different sessions")
	}
	if a.Previous == nil || b.Previous == nil {
		t.Fatal("the other session was dropped: what is in flight on it would be lost")
	}
	// Bob writes on the session Alice started; it decrypts on Alice's side whichever she
	// kept current.
	var sender *ratchet.State
	if b.Current == bFromA {
		sender = b.Current
	} else {
		sender = b.Previous
	}
	m, err := sender.Encrypt([]byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	pt, current, err := a.Decrypt(m)
	if err != nil || string(pt) != "again" || current != (a.Current == aOwn) {
		t.Fatalf("decrypt: %q current=%v err=%v", pt, current, err)
	}
	if _, _, err := (&Sessions{}).Decrypt(m); err != ErrNoSession {
		t.Fatalf("no session: %v", err)
	}
}

// TestSessionsStartOverReplacesCurrent: a new session of a contact that answered ours
// replaces it; the old one only receives.
func TestSessionsStartOverReplacesCurrent(t *testing.T) {
	t.Parallel()
	st, _ := openStore(t)
	alice, bob := newID(t), newID(t)
	_, i1, m1 := initiate(t, alice, bundleOf(t, st, bob), "one")
	first, _ := respond(t, st, bob, i1, m1)
	_, i2, m2 := initiate(t, alice, bundleOf(t, st, bob), "two")
	second, _ := respond(t, st, bob, i2, m2)
	s := Sessions{Current: first}
	if !s.Take(second) || s.Current != second || s.Previous != first {
		t.Fatal("a new session of the contact did not replace the current one")
	}
}
