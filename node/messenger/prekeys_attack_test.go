package messenger

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
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
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

// runningMessenger is a Messenger on its own encrypted store, Run on a loopback host until
// the test ends.
func runningMessenger(t *testing.T, name string) (*Messenger, host.Host) {
	t.Helper()
	return runningMessengerWith(t, name, nil)
}

// runningMessengerWith is runningMessenger with configure applied to the Config.
func runningMessengerWith(t *testing.T, name string, configure func(*Config)) (*Messenger, host.Host) {
	t.Helper()
	st, err := store.Create(t.TempDir(), []byte("test passphrase "+name), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, Events: ev, Identity: id, Profile: func() string { return name }}
	if configure != nil {
		configure(&cfg)
	}
	m, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := loopbackHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: run: %v", name, err)
		}
		st.Close()
	})
	return m, h
}

// befriendPeers makes b an accepted contact of a, reachable at b's host; it returns the
// contact's conversation.
func befriendPeers(t *testing.T, a, b *Messenger, bh host.Host) string {
	t.Helper()
	var conv string
	err := a.st.Update(context.Background(), func(tx *store.Tx) error {
		c, _, err := a.contactFor(tx, b.id.Public(), bh.ID().String(), api.RequestAccepted)
		if err != nil {
			return err
		}
		c.Addrs = nil
		for _, ma := range bh.Addrs() {
			c.Addrs = append(c.Addrs, ma.String())
		}
		conv = c.ConvID
		return putJSON(tx, kContact(c.ID), c)
	})
	if err != nil {
		t.Fatal(err)
	}
	return conv
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
	raw, err := requestBundle(s)
	if err != nil {
		return nil, err
	}
	return prekey.ParseBundle(raw)
}

// freeOneTime counts the node's one-time keys of each kind that nobody has been given.
func freeOneTime(t *testing.T, m *Messenger) (x25519, mlkem int) {
	t.Helper()
	err := m.st.View(func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, m.id, m.now())
		if err != nil {
			return err
		}
		issued, err := sessions.LoadIssued(tx, ps)
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
func heldOneTime(t *testing.T, m *Messenger) []uint32 {
	t.Helper()
	var ids []uint32
	err := m.st.View(func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, m.id, m.now())
		if err != nil {
			return err
		}
		ids, _ = sessions.IDs(ps)
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
// for his contacts; and a real contact still starts a session with a one-time key and its
// message arrives.
func TestPrekeyDrainingByStranger(t *testing.T) {
	ctx := context.Background()
	bob, bh := runningMessenger(t, "bob")
	alice, ah := runningMessenger(t, "alice")
	conv := befriendPeers(t, alice, bob, bh)
	befriendPeers(t, bob, alice, ah)
	freeX, freeP := freeOneTime(t, bob)

	attacker := loopbackHost(t)
	if err := attacker.Connect(ctx, peer.AddrInfo{ID: bh.ID(), Addrs: bh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	const requests = 150
	writes := bob.st.Writes()
	start := time.Now()
	served, refused := 0, 0
	for i := range requests {
		b, err := askBundle(ctx, attacker, bh.ID())
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
	budget := strangerBurst + int(time.Since(start)/strangerEvery) + 1
	if served < strangerBurst || served > budget || refused == 0 {
		t.Fatalf("served %d, refused %d: want the burst (%d) served, at most %d in all, and the rest refused", served, refused, strangerBurst, budget)
	}
	if x, p := freeOneTime(t, bob); x != freeX || p != freeP {
		t.Fatalf("free one-time keys %d/%d after the stranger's requests, %d/%d before", x, p, freeX, freeP)
	}

	// Alice, a contact, starts a session: her bundle has a one-time key, which her
	// message's handshake consumes at Bob.
	before := heldOneTime(t, bob)
	if _, _, err := alice.Send(ctx, api.SendRequest{ConversationID: conv, ClientMsgID: "a1", Body: "still here"}); err != nil {
		t.Fatal(err)
	}
	bobConv := directConvID(bob.uid, alice.uid)
	wait.For(t, "Bob receives Alice's message", func() error {
		page, err := bob.Messages(ctx, bobConv, "", "", 10)
		if err != nil {
			return err
		}
		if len(page.Messages) != 1 || page.Messages[0].Body != "still here" {
			return fmt.Errorf("%d messages", len(page.Messages))
		}
		return nil
	})
	after := heldOneTime(t, bob)
	if len(after) != len(before)-1 {
		t.Fatalf("Bob holds %d one-time keys after Alice's handshake, %d before: no one-time key was used", len(after), len(before))
	}
}

// A contact that asks in a loop gets one-time keys only within its budget and the
// keys-free bundle after that, at no store write; the pool stays above the refill level.
func TestPrekeyDrainingByContact(t *testing.T) {
	ctx := context.Background()
	bob, bh := runningMessenger(t, "bob")
	mallory, mh := runningMessenger(t, "mallory")
	befriendPeers(t, bob, mallory, mh)
	if err := mh.Connect(ctx, peer.AddrInfo{ID: bh.ID(), Addrs: bh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	writes := bob.st.Writes()
	start := time.Now()
	withKey := 0
	const requests = 60
	for i := range requests {
		b, err := askBundle(ctx, mh, bh.ID())
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if _, ok := b.OneTimePrekey(); ok {
			withKey++
		}
	}
	if budget := prekeyBurst + int(time.Since(start)/prekeyEvery) + 1; withKey < prekeyBurst || withKey > budget {
		t.Fatalf("a contact asking %d times got %d one-time keys; the budget is %d at once, %d by now", requests, withKey, prekeyBurst, budget)
	}
	t.Logf("a contact asking %d times: %d bundles with one-time keys, %d store writes", requests, withKey, bob.st.Writes()-writes)
	if got := bob.st.Writes() - writes; got > int64(withKey)+requests/10 {
		t.Fatalf("%d requests (%d with keys) cost %d store writes", requests, withKey, got)
	}
	if x, p := freeOneTime(t, bob); x < prekey.RefillBelow || p < prekey.RefillBelow {
		t.Fatalf("free one-time keys %d/%d", x, p)
	}
}

// When every one-time key has been handed out and none used (a relay's batch, contacts
// that never wrote), the next contact bundle tops the pool up with fresh keys instead of
// leaving the node without any.
func TestPrekeyPoolReplenished(t *testing.T) {
	ctx := context.Background()
	bob, bh := runningMessenger(t, "bob")
	alice, ah := runningMessenger(t, "alice")
	befriendPeers(t, bob, alice, ah)
	err := bob.st.Update(ctx, func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, bob.id, bob.now())
		if err != nil {
			return err
		}
		opks, pqs := sessions.IDs(ps)
		return sessions.SaveIssued(tx, append(opks, pqs...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if x, p := freeOneTime(t, bob); x != 0 || p != 0 {
		t.Fatalf("setup: %d/%d free", x, p)
	}
	if err := ah.Connect(ctx, peer.AddrInfo{ID: bh.ID(), Addrs: bh.Addrs()}); err != nil {
		t.Fatal(err)
	}
	b, err := askBundle(ctx, ah, bh.ID())
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

// Handed-out keys never used do not pile up without bound: past sessions.MaxHeld the oldest
// are dropped.
func TestPrekeyPoolCapped(t *testing.T) {
	m := testMessenger(t, "bob")
	err := m.st.Update(context.Background(), func(tx *store.Tx) error {
		ps, err := sessions.LoadPrekeys(tx, m.id, m.now())
		if err != nil {
			return err
		}
		first, _ := sessions.IDs(ps)
		for round := 0; round < 10; round++ {
			opks, pqs := sessions.IDs(ps)
			var changed bool
			if changed, _, err = sessions.TopUp(m.id, m.now(), ps, append(opks, pqs...)); err != nil {
				return err
			}
			if !changed {
				return fmt.Errorf("round %d: an exhausted pool was not topped up", round)
			}
			opks, pqs = sessions.IDs(ps)
			if len(opks) > sessions.MaxHeld || len(pqs) > sessions.MaxHeld {
				return fmt.Errorf("round %d: %d/%d held, cap %d", round, len(opks), len(pqs), sessions.MaxHeld)
			}
		}
		if opks, _ := sessions.IDs(ps); slices.Contains(opks, first[0]) {
			return errors.New("the oldest handed-out key is still held after ten top-ups")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
