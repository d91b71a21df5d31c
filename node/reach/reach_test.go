package reach

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// prekeyNode is a contact's node answering the prekey protocol from its own store, to
// every peer.
type prekeyNode struct {
	id  *identity.Identity
	h   host.Host
	srv *sessions.PrekeyServer
}

func startPrekeyNode(t *testing.T) *prekeyNode {
	t.Helper()
	n := &prekeyNode{id: newIdentity(t), h: loopbackHost(t)}
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		_, err := sessions.LoadPrekeys(tx, n.id, time.Now())
		return err
	})
	n.srv = &sessions.PrekeyServer{Store: st, Identity: n.id, Now: time.Now,
		IsContact: func(*store.Tx, peer.ID) (bool, error) { return true, nil }}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n.h.SetStreamHandler(wire.PrekeyProtocol, n.srv.Handler(ctx))
	return n
}

// contactOf is the contact record of node n as our address book holds it, under identity
// idk (n's own unless the book was told another).
func contactOf(n *prekeyNode, idk *identity.PublicIdentity, relays ...string) *sessions.Contact {
	var addrs []string
	for _, a := range n.h.Addrs() {
		addrs = append(addrs, a.String())
	}
	return &sessions.Contact{Record: contacts.Record{ID: "c1", Identity: idk.Bytes(), PeerID: n.h.ID().String(), Addrs: addrs, Relays: relays}}
}

// attackerRelays answers every bundle request with the bundle it was given: a relay
// directory, honest or not, whose word the Dialer must check.
type attackerRelays struct {
	bundle []byte
	asked  []string
}

func (r *attackerRelays) Bundle(_ context.Context, relay string, _ *identity.PublicIdentity) ([]byte, error) {
	r.asked = append(r.asked, relay)
	return r.bundle, nil
}

func bundleIdentity(t *testing.T, b []byte) *identity.PublicIdentity {
	t.Helper()
	pb, err := prekey.ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return pb.Identity()
}

// TestBundleFromTheContactsNode: the contact's own node serves its bundle over a direct
// connection, and it says so (direct), with a one-time key issued.
func TestBundleFromTheContactsNode(t *testing.T) {
	bob := startPrekeyNode(t)
	me := loopbackHost(t)
	d := Dialer{Host: func() host.Host { return me }}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, direct, err := d.Bundle(ctx, contactOf(bob, bob.id.Public()))
	if err != nil || !direct {
		t.Fatalf("Bundle: direct %v, %v", direct, err)
	}
	if !bundleIdentity(t, b).Equal(bob.id.Public()) {
		t.Error("the bundle is not Bob's")
	}
	if pb, _ := prekey.ParseBundle(b); pb != nil {
		if _, ok := pb.OneTimePrekey(); !ok {
			t.Error("the contact's node gave no one-time key")
		}
	}
}

// TestBundleOfAnotherIdentityRefused is the attack: the peer a contact's record names
// serves a bundle of its own identity, not the contact's (a peer id is only a claim), and
// a relay directory answers with another identity's bundle too. Neither is taken; only a
// relay answering with the contact's own bundle is, and then not as direct.
func TestBundleOfAnotherIdentityRefused(t *testing.T) {
	mallory := startPrekeyNode(t)
	bob := startPrekeyNode(t)
	me := loopbackHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	malloryBundle, err := mallory.srv.PublicBundle()
	if err != nil {
		t.Fatal(err)
	}
	relays := &attackerRelays{bundle: malloryBundle}
	d := Dialer{Host: func() host.Host { return me }, Relays: relays}
	c := contactOf(mallory, bob.id.Public(), "/relay/one", "/relay/two")
	_, _, err = d.Bundle(ctx, c)
	if err == nil || !strings.Contains(err.Error(), "another identity") {
		t.Fatalf("a bundle of another identity was taken: %v", err)
	}
	if len(relays.asked) != 2 {
		t.Errorf("relays asked %v, want both after the peer's bundle was refused", relays.asked)
	}
	if relays.bundle, err = bob.srv.PublicBundle(); err != nil {
		t.Fatal(err)
	}
	b, direct, err := d.Bundle(ctx, c)
	if err != nil || direct || !bundleIdentity(t, b).Equal(bob.id.Public()) {
		t.Errorf("the relay's genuine bundle: direct %v, %v", direct, err)
	}
}

// TestMailNeverOverACircuit: a contact known only at relay-circuit addresses is not
// dialed for mail (ErrCircuitOnly), and a Dialer whose node is not running opens nothing.
func TestMailNeverOverACircuit(t *testing.T) {
	bob := startPrekeyNode(t)
	me := loopbackHost(t)
	relay := loopbackHost(t)
	c := contactOf(bob, bob.id.Public())
	c.Addrs = []string{relay.Addrs()[0].String() + "/p2p/" + relay.ID().String() + "/p2p-circuit"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := Dialer{Host: func() host.Host { return me }}
	if _, err := d.Open(ctx, c, wire.MessageProtocol, "open stream"); !errors.Is(err, ErrCircuitOnly) {
		t.Errorf("Open over a circuit only: %v, want ErrCircuitOnly", err)
	}
	if len(me.Network().ConnsToPeer(bob.h.ID())) != 0 {
		t.Error("a connection to the contact was opened")
	}
	stopped := Dialer{Host: func() host.Host { return nil }}
	if _, err := stopped.Open(ctx, contactOf(bob, bob.id.Public()), wire.MessageProtocol, "open stream"); err == nil {
		t.Error("a stopped node opened a stream")
	}
	stopped.AddAddrs(bob.h.ID(), []string{"/ip4/127.0.0.1/tcp/1"}) // nothing to tell: no panic
}
