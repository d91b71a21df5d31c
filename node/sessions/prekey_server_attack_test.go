package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

// loopbackHost is a libp2p host listening on loopback, closed at the end of the test.
func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// prekeyNode is a node's prekey side: its own encrypted store with a fresh prekey store,
// and a PrekeyServer answering on a loopback host. Its contacts are the peers given (what
// the address book would answer for them).
type prekeyNode struct {
	st  *store.Store
	id  *identity.Identity
	h   host.Host
	srv *PrekeyServer
}

func startPrekeyNode(t *testing.T, contacts ...peer.ID) *prekeyNode {
	t.Helper()
	n := &prekeyNode{st: storetest.Open(t), id: newID(t), h: loopbackHost(t)}
	if err := n.st.Update(context.Background(), func(tx *store.Tx) error {
		_, err := LoadPrekeys(tx, n.id, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n.srv = &PrekeyServer{Store: n.st, Identity: n.id, IsContact: func(_ *store.Tx, pid peer.ID) (bool, error) {
		return slices.Contains(contacts, pid), nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n.h.SetStreamHandler(wire.PrekeyProtocol, n.srv.Handler(ctx))
	return n
}

// askBundle runs one prekey request from h to the node at pid and parses the answer.
func askBundle(ctx context.Context, h host.Host, pid peer.ID) (*prekey.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, pid, wire.PrekeyProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(20 * time.Second))
	raw, err := RequestBundle(s)
	if err != nil {
		return nil, err
	}
	return prekey.ParseBundle(raw)
}

func connect(t *testing.T, from host.Host, to host.Host) {
	t.Helper()
	if err := from.Connect(context.Background(), peer.AddrInfo{ID: to.ID(), Addrs: to.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

// freeOneTime counts the node's one-time keys of each kind that nobody has been given.
func freeOneTime(t *testing.T, n *prekeyNode) (x25519, mlkem int) {
	t.Helper()
	err := n.st.View(func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, n.id, time.Now())
		if err != nil {
			return err
		}
		issued, err := LoadIssued(tx, ps)
		if err != nil {
			return err
		}
		for _, k := range ps.OneTimePrekeys() {
			if !slices.Contains(issued, k.ID()) {
				x25519++
			}
		}
		for _, k := range ps.PQOneTimePrekeys() {
			if !slices.Contains(issued, k.ID()) {
				mlkem++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return x25519, mlkem
}

// heldOneTime is the set of one-time X25519 key ids the node holds.
func heldOneTime(t *testing.T, n *prekeyNode) []uint32 {
	t.Helper()
	var ids []uint32
	err := n.st.View(func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, n.id, time.Now())
		if err != nil {
			return err
		}
		ids, _ = IDs(ps)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A stranger — a separate libp2p host speaking the prekey protocol — asks Bob for bundles
// in a loop, as the attack in issue 11 did (72 requests took every one-time key, each at
// the cost of a durable write). It gets bundles with the signed and last-resort keys only,
// then refusals; none of its requests writes to Bob's store; Bob's one-time keys stay free
// for his contacts; and a real contact still gets a one-time key, which its handshake
// consumes at Bob.
func TestPrekeyDrainingByStranger(t *testing.T) {
	ctx := context.Background()
	ah := loopbackHost(t)
	bob := startPrekeyNode(t, ah.ID())
	freeX, freeP := freeOneTime(t, bob)

	attacker := loopbackHost(t)
	connect(t, attacker, bob.h)
	const requests = 150
	writes := bob.st.Writes()
	start := time.Now()
	served, refused := 0, 0
	for i := range requests {
		b, err := askBundle(ctx, attacker, bob.h.ID())
		if err != nil {
			if !strings.Contains(err.Error(), "rate limited") {
				t.Fatalf("request %d: %v", i, err)
			}
			refused++
			continue
		}
		served++
		if !b.Identity().Equal(bob.id.Public()) {
			t.Fatalf("request %d: a bundle of another identity", i)
		}
		if _, ok := b.OneTimePrekey(); ok {
			t.Fatalf("request %d: a stranger was given a one-time X25519 prekey", i)
		}
		if b.PQPrekey().Kind() != prekey.LastResort {
			t.Fatalf("request %d: a stranger was given a one-time ML-KEM prekey", i)
		}
	}
	got := bob.st.Writes() - writes
	t.Logf("%d stranger requests in %v: %d served without one-time keys, %d refused, %d store writes",
		requests, time.Since(start).Round(time.Millisecond), served, refused, got)
	if got > requests/10 {
		t.Fatalf("%d stranger requests cost %d store writes", requests, got)
	}
	budget := StrangerBurst + int(time.Since(start)/StrangerEvery) + 1
	if served < StrangerBurst || served > budget || refused == 0 {
		t.Fatalf("served %d, refused %d: want the burst (%d) served, at most %d in all, and the rest refused", served, refused, StrangerBurst, budget)
	}
	if x, p := freeOneTime(t, bob); x != freeX || p != freeP {
		t.Fatalf("free one-time keys %d/%d after the stranger's requests, %d/%d before", x, p, freeX, freeP)
	}

	// Alice, a contact, starts a session: her bundle has a one-time key, which her
	// handshake consumes at Bob.
	connect(t, ah, bob.h)
	b, err := askBundle(ctx, ah, bob.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	opk, ok := b.OneTimePrekey()
	if !ok {
		t.Fatal("a contact got no one-time key after a stranger's requests")
	}
	alice := newID(t)
	if _, initial, err := pqxdh.Initiate(alice, b); err != nil {
		t.Fatal(err)
	} else if err := bob.st.Update(ctx, func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, bob.id, time.Now())
		if err != nil {
			return err
		}
		_, used, err := pqxdh.Respond(bob.id, ps, initial, time.Now())
		if err != nil {
			return err
		}
		if !slices.Contains(used, opk.ID()) {
			return fmt.Errorf("the handshake used keys %v, not the one-time key %d", used, opk.ID())
		}
		return nil
	}); err != nil {
		t.Fatalf("Bob answers Alice's handshake: %v", err)
	}
}

// A contact that asks in a loop gets one-time keys only within its budget and the
// keys-free bundle after that, at no store write; the pool stays above the refill level.
func TestPrekeyDrainingByContact(t *testing.T) {
	ctx := context.Background()
	mh := loopbackHost(t)
	bob := startPrekeyNode(t, mh.ID())
	connect(t, mh, bob.h)
	writes := bob.st.Writes()
	start := time.Now()
	withKey := 0
	const requests = 60
	for i := range requests {
		b, err := askBundle(ctx, mh, bob.h.ID())
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if _, ok := b.OneTimePrekey(); ok {
			withKey++
		}
	}
	if budget := ContactBurst + int(time.Since(start)/ContactEvery) + 1; withKey < ContactBurst || withKey > budget {
		t.Fatalf("a contact asking %d times got %d one-time keys; the budget is %d at once, %d by now", requests, withKey, ContactBurst, budget)
	}
	t.Logf("a contact asking %d times: %d bundles with one-time keys, %d store writes", requests, withKey, bob.st.Writes()-writes)
	if got := bob.st.Writes() - writes; got > int64(withKey)+requests/10 {
		t.Fatalf("%d requests (%d with keys) cost %d store writes", requests, withKey, got)
	}
	if x, p := freeOneTime(t, bob); x < prekey.RefillBelow || p < prekey.RefillBelow {
		t.Fatalf("free one-time keys %d/%d", x, p)
	}
}

// The keys-free bundle follows the prekey store: after a rotation a stranger gets the new
// signed prekey, not the one cached from before.
func TestPublicBundleFollowsRotation(t *testing.T) {
	bob := startPrekeyNode(t)
	first, err := bob.srv.PublicBundle()
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(60 * 24 * time.Hour)
	if err := bob.st.Update(context.Background(), func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, bob.id, later)
		if err != nil {
			return err
		}
		if err := ps.Rotate(bob.id, later); err != nil {
			return err
		}
		return SavePrekeys(tx, ps)
	}); err != nil {
		t.Fatal(err)
	}
	second, err := bob.srv.PublicBundle()
	if err != nil {
		t.Fatal(err)
	}
	b1, err1 := prekey.ParseBundle(first)
	b2, err2 := prekey.ParseBundle(second)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if b1.SignedPrekey().ID() == b2.SignedPrekey().ID() {
		t.Fatal("the keys-free bundle still carries the signed prekey from before the rotation")
	}
}

// When every one-time key has been handed out and none used (a relay's batch, contacts
// that never wrote), the next contact bundle tops the pool up with fresh keys instead of
// leaving the node without any.
func TestPrekeyPoolReplenished(t *testing.T) {
	ctx := context.Background()
	ah := loopbackHost(t)
	bob := startPrekeyNode(t, ah.ID())
	err := bob.st.Update(ctx, func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, bob.id, time.Now())
		if err != nil {
			return err
		}
		opks, pqs := IDs(ps)
		return SaveIssued(tx, append(opks, pqs...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if x, p := freeOneTime(t, bob); x != 0 || p != 0 {
		t.Fatalf("setup: %d/%d free", x, p)
	}
	connect(t, ah, bob.h)
	b, err := askBundle(ctx, ah, bob.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.OneTimePrekey(); !ok || b.PQPrekey().Kind() != prekey.OneTime {
		t.Fatal("a contact got no one-time keys from an exhausted pool")
	}
	if x, p := freeOneTime(t, bob); x != prekey.PoolSize-1 || p != prekey.PoolSize-1 {
		t.Fatalf("free after the top-up: %d/%d, want %d", x, p, prekey.PoolSize-1)
	}
	if n := len(heldOneTime(t, bob)); n != 2*prekey.PoolSize {
		t.Fatalf("held %d, want the %d handed out and %d fresh", n, prekey.PoolSize, prekey.PoolSize)
	}
}

// Handed-out keys never used do not pile up without bound: past MaxHeld the oldest are
// dropped.
func TestPrekeyPoolCapped(t *testing.T) {
	st, id, now := storetest.Open(t), newID(t), time.Now()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, id, now)
		if err != nil {
			return err
		}
		first, _ := IDs(ps)
		for round := 0; round < 10; round++ {
			opks, pqs := IDs(ps)
			var changed bool
			if changed, _, err = TopUp(id, now, ps, append(opks, pqs...)); err != nil {
				return err
			}
			if !changed {
				return fmt.Errorf("round %d: an exhausted pool was not topped up", round)
			}
			opks, pqs = IDs(ps)
			if len(opks) > MaxHeld || len(pqs) > MaxHeld {
				return fmt.Errorf("round %d: %d/%d held, cap %d", round, len(opks), len(pqs), MaxHeld)
			}
		}
		if opks, _ := IDs(ps); slices.Contains(opks, first[0]) {
			return errors.New("the oldest handed-out key is still held after ten top-ups")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A request that is not the one-byte prekey request is reset, not answered.
func TestPrekeyServerResetsGarbage(t *testing.T) {
	bob := startPrekeyNode(t)
	h := loopbackHost(t)
	connect(t, h, bob.h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, bob.h.ID(), wire.PrekeyProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := s.Write([]byte{3, wire.TypePrekeys, 0, 0}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := s.Read(buf); err == nil || n > 0 {
		t.Fatalf("a malformed request was answered: %d bytes, %v", n, err)
	}
}
