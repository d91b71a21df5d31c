package groupcontacts

import (
	"log/slog"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/acquaint"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newPeer(t *testing.T) string {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return pid.String()
}

// TestMemberCardsMakeGroupOnlyContactsAndMoveNoPeer: a member we do not know becomes a
// group-only contact at the card's peer; a card naming the peer one of our contacts holds,
// under another identity (the attack: an admin's word for a member), changes nothing;
// content goes to contacts that are not blocked only; an empty outbox is told apart.
func TestMemberCardsMakeGroupOnlyContactsAndMoveNoPeer(t *testing.T) {
	st := storetest.Open(t)
	me := acquaint.Self{UserID: "u-me", Now: 1}
	ann, bob, mallory := newIdentity(t), newIdentity(t), newIdentity(t)
	annPeer, bobPeer := newPeer(t), newPeer(t)
	var annID string
	storetest.Update(t, st, func(tx *store.Tx) error {
		c, _, err := acquaint.ForIdentity(tx, me, ann.Public(), annPeer, api.RequestAccepted)
		if err != nil {
			return err
		}
		annID, c.Blocked = c.ID, true
		return sessions.SaveContact(tx, c)
	})
	var sent []string
	f := Funcs{
		Enqueue: func(tx *store.Tx, c *sessions.Contact, content *wire.Content, _ string) error {
			sent = append(sent, c.UserID)
			oc := outq.ContactOf(c)
			_, err := outq.Enqueue(tx, &oc, content, "", 1, nil)
			return err
		},
		ContactFor: func(tx *store.Tx, pub *identity.PublicIdentity, peerID, request string) (*sessions.Contact, bool, error) {
			return acquaint.ForIdentity(tx, me, pub, peerID, request)
		},
		Log: slog.New(slog.DiscardHandler),
	}
	storetest.Update(t, st, func(tx *store.Tx) error {
		p := New(tx, Cache{}, f)
		if err := p.AddMember(&wire.GroupMember{UserID: string(bob.UserID()), Identity: bob.Public().Bytes(), PeerID: bobPeer, Name: "Bob"}); err != nil {
			return err
		}
		// Mallory's card names Ann's peer.
		if err := p.AddMember(&wire.GroupMember{UserID: string(mallory.UserID()), Identity: mallory.Public().Bytes(), PeerID: annPeer, Name: "Ann"}); err != nil {
			return err
		}
		if err := p.Send(string(ann.UserID()), &wire.Content{Kind: wire.KindText, Body: "to a blocked contact"}); err != nil {
			return err
		}
		return p.Send(string(mallory.UserID()), &wire.Content{Kind: wire.KindText, Body: "to no contact"})
	})
	if len(sent) != 0 {
		t.Errorf("content went to %v: blocked and unknown users get none", sent)
	}
	_ = st.View(func(tx *store.Tx) error {
		p := New(tx, Cache{}, f)
		b, err := p.Contact(string(bob.UserID()))
		if err != nil || b == nil || b.PeerID != bobPeer || b.Name != "Bob" {
			t.Fatalf("Bob: %+v, %v", b, err)
		}
		if r, _ := contacts.Get(tx, b.ID); r == nil || !r.GroupOnly {
			t.Errorf("Bob is not a group-only contact: %+v", r)
		}
		if owner, _ := contacts.ByPeer(tx, annPeer); owner != annID {
			t.Errorf("Ann's peer now belongs to %q", owner)
		}
		if m, _ := p.Contact(string(mallory.UserID())); m != nil {
			t.Errorf("a card naming a contact's peer made %+v a contact", m)
		}
		if empty, err := p.OutboxEmpty(string(bob.UserID())); err != nil || !empty {
			t.Errorf("Bob's outbox: empty %v, %v", empty, err)
		}
		return nil
	})
	storetest.Update(t, st, func(tx *store.Tx) error {
		return New(tx, Cache{}, f).Send(string(bob.UserID()), &wire.Content{Kind: wire.KindText, ID: "m1", TS: "018bcfe5680000000001", Body: "hi"})
	})
	_ = st.View(func(tx *store.Tx) error {
		if empty, err := New(tx, Cache{}, f).OutboxEmpty(string(bob.UserID())); err != nil || empty {
			t.Errorf("after a send Bob's outbox: empty %v, %v", empty, err)
		}
		return nil
	})
	if len(sent) != 1 || sent[0] != string(bob.UserID()) {
		t.Errorf("sent to %v, want Bob", sent)
	}
}
