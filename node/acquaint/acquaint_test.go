package acquaint

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/invite"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

var me = Self{UserID: "u-me", Now: 1_800_000_000_000}

func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newPeer(t *testing.T) peer.ID {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// link is a signed invite link of id at peer pid, parsed back as AddContact parses it.
func link(t *testing.T, id *identity.Identity, pid peer.ID, name string) *invite.Invite {
	t.Helper()
	l, err := invite.Link(id, invite.Invite{Identity: id.Public(), PeerID: pid, Name: name,
		Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}, Created: time.Unix(1_800_000_000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invite.Parse(l)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func load(t *testing.T, st *store.Store, cid string) *sessions.Contact {
	t.Helper()
	var c *sessions.Contact
	if err := st.View(func(tx *store.Tx) error {
		var err error
		c, err = sessions.LoadContact(tx, cid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func peerOwner(t *testing.T, st *store.Store, pid peer.ID) string {
	t.Helper()
	var owner string
	_ = st.View(func(tx *store.Tx) error {
		var err error
		owner, err = contacts.ByPeer(tx, pid.String())
		return err
	})
	return owner
}

// TestAddLinkCreatesContactAndConversation: adding a link creates the contact, accepted,
// named by the link, at the link's peer and addresses, with its direct conversation (the
// same id on both sides); adding it again finds the same contact, and the user's name wins
// over the link's from then on.
func TestAddLinkCreatesContactAndConversation(t *testing.T) {
	st := storetest.Open(t)
	ann, pid := newIdentity(t), newPeer(t)
	var first Added
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		first, err = AddLink(tx, me, link(t, ann, pid, "Ann"), nil)
		return err
	})
	c := first.Contact
	if !first.New || !first.Created || !first.Renamed || c.Name != "Ann" || c.NameSet || c.Request != api.RequestAccepted {
		t.Fatalf("first add: %+v, contact %+v", first, c.Record)
	}
	if c.PeerID != pid.String() || c.PeerProven || len(c.Addrs) != 1 || peerOwner(t, st, pid) != c.ID {
		t.Errorf("peer %s proven %v addrs %v", c.PeerID, c.PeerProven, c.Addrs)
	}
	if c.ConvID != DirectConvID(string(ann.UserID()), me.UserID) {
		t.Errorf("conversation %s is not the shared direct id", c.ConvID)
	}
	_ = st.View(func(tx *store.Tx) error {
		cv, err := history.GetConversation(tx, c.ConvID)
		if err != nil || cv.Type != api.ConversationDirect || cv.ContactID != c.ID {
			t.Errorf("direct conversation: %+v %v", cv, err)
		}
		return nil
	})
	name := "Annie"
	var again Added
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		again, err = AddLink(tx, me, link(t, ann, pid, "Ann"), &name)
		return err
	})
	if again.New || again.Created || !again.Renamed || again.Contact.ID != c.ID || !again.Contact.NameSet {
		t.Errorf("second add: %+v", again)
	}
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		again, err = AddLink(tx, me, link(t, ann, pid, "Ann"), nil)
		return err
	})
	if again.Renamed || load(t, st, c.ID).Name != "Annie" {
		t.Errorf("the link renamed a contact the user named: %+v", again.Contact.Record)
	}
}

// TestLinkCannotTakeAnotherContactsPeer is the attack: a link signed by a new identity
// that names the peer id of an existing contact is a conflict and changes nothing — the
// contact keeps its peer, no contact is created for the forger. Only a group admin's
// unproven word for a member's peer gives way to the identity's own signed link.
func TestLinkCannotTakeAnotherContactsPeer(t *testing.T) {
	st := storetest.Open(t)
	ann, mallory, pid := newIdentity(t), newIdentity(t), newPeer(t)
	var annID string
	storetest.Update(t, st, func(tx *store.Tx) error {
		a, err := AddLink(tx, me, link(t, ann, pid, "Ann"), nil)
		annID = a.Contact.ID
		return err
	})
	err := st.Update(t.Context(), func(tx *store.Tx) error {
		_, err := AddLink(tx, me, link(t, mallory, pid, "Ann"), nil)
		return err
	})
	if !errors.Is(err, api.ErrConflict) {
		t.Fatalf("a forged link naming Ann's peer: %v, want conflict", err)
	}
	if owner := peerOwner(t, st, pid); owner != annID {
		t.Errorf("Ann's peer now belongs to %q", owner)
	}
	_ = st.View(func(tx *store.Tx) error {
		if cid, _ := contacts.ByUser(tx, string(mallory.UserID())); cid != "" {
			t.Errorf("the forger became contact %s", cid)
		}
		return nil
	})

	// A group member whose peer is only an admin's claim: the member's own link wins.
	bob, bobPeer := newIdentity(t), newPeer(t)
	var claimed *sessions.Contact
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		claimed, _, err = ForIdentity(tx, me, newIdentity(t).Public(), bobPeer.String(), api.RequestAccepted)
		if err != nil {
			return err
		}
		claimed.GroupOnly = true
		return sessions.SaveContact(tx, claimed)
	})
	var bobs Added
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		bobs, err = AddLink(tx, me, link(t, bob, bobPeer, "Bob"), nil)
		return err
	})
	if !bobs.New || peerOwner(t, st, bobPeer) != bobs.Contact.ID || load(t, st, claimed.ID).PeerID != "" {
		t.Errorf("the signed link did not take the peer an admin only claimed: %+v", bobs)
	}
}

// TestForIdentityNeverMovesAPeer: a new identity whose claimed peer another contact holds
// becomes a contact without a peer; an existing identity is returned unchanged.
func TestForIdentityNeverMovesAPeer(t *testing.T) {
	st := storetest.Open(t)
	pid := newPeer(t)
	a, b := newIdentity(t), newIdentity(t)
	var ca, cb, ca2 *sessions.Contact
	var isNew bool
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if ca, _, err = ForIdentity(tx, me, a.Public(), pid.String(), api.RequestPending); err != nil {
			return err
		}
		if cb, _, err = ForIdentity(tx, me, b.Public(), pid.String(), api.RequestPending); err != nil {
			return err
		}
		ca2, isNew, err = ForIdentity(tx, me, a.Public(), newPeer(t).String(), api.RequestAccepted)
		return err
	})
	if cb.PeerID != "" || peerOwner(t, st, pid) != ca.ID {
		t.Errorf("b took a's peer: %q", cb.PeerID)
	}
	if isNew || ca2.ID != ca.ID || ca2.PeerID != pid.String() || ca2.Request != api.RequestPending {
		t.Errorf("an existing contact changed: %+v", ca2.Record)
	}
}

// TestIdentityChangedFailsWaitingMail: a contact's identity change flags it, unverifies
// it, drops its sessions and outbox, and fails each message that was waiting.
func TestIdentityChangedFailsWaitingMail(t *testing.T) {
	st := storetest.Open(t)
	old, newer := newIdentity(t), newIdentity(t)
	var c *sessions.Contact
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if c, _, err = ForIdentity(tx, me, old.Public(), "", api.RequestAccepted); err != nil {
			return err
		}
		c.Verified, c.Name, c.SendSeq = true, "Ann", 7
		if err := sessions.SaveContact(tx, c); err != nil {
			return err
		}
		for i, id := range []string{"m1", "m2"} {
			k := append(outq.KeyPrefix(c.ID), byte('0'+i))
			if err := store.PutJSON(tx, k, &outq.Entry{MsgID: id}); err != nil {
				return err
			}
		}
		return tx.Set(append(outq.SentPrefix(c.ID), '1'), []byte("x"))
	})
	var failed []string
	storetest.Update(t, st, func(tx *store.Tx) error {
		return IdentityChanged(tx, c, newer.Public(), func(_ *store.Tx, id string) error {
			failed = append(failed, id)
			return nil
		})
	})
	got := load(t, st, c.ID)
	if !got.Changed || got.Verified || !got.NameSet || got.Name != "Ann" || got.UserID != string(newer.UserID()) || got.SendSeq != 0 {
		t.Errorf("after the change: %+v", got.Record)
	}
	if len(failed) != 2 || failed[0] != "m1" || failed[1] != "m2" {
		t.Errorf("failed %v, want [m1 m2]", failed)
	}
	_ = st.View(func(tx *store.Tx) error {
		for _, p := range [][]byte{outq.KeyPrefix(c.ID), outq.SentPrefix(c.ID)} {
			_ = tx.Iterate(store.IterOptions{Prefix: p}, func(k, _ []byte) (bool, error) {
				t.Errorf("outbox key %q left", k)
				return true, nil
			})
		}
		if cid, _ := contacts.ByUser(tx, string(old.UserID())); cid != "" {
			t.Errorf("the old user id still maps to %s", cid)
		}
		return nil
	})
}

// TestPatchAndCheckName: verifying clears the identity-changed flag, an empty name
// unsets the user's name, accept accepts; a name over MaxContactName or not UTF-8 is a bad
// request.
func TestPatchAndCheckName(t *testing.T) {
	r := contacts.Record{Name: "x", NameSet: true, Changed: true, Request: api.RequestPending}
	yes, empty := true, ""
	Patch(&r, api.ContactPatch{Verified: &yes, Blocked: &yes, Accept: &yes, Name: &empty})
	if !r.Verified || r.Changed || !r.Blocked || r.Request != api.RequestAccepted || r.NameSet || r.Name != "" {
		t.Errorf("patched: %+v", r)
	}
	if n, err := CheckName("  Ann  "); err != nil || n != "Ann" {
		t.Errorf("CheckName: %q %v", n, err)
	}
	for _, bad := range []string{string(make([]byte, MaxContactName+1)), "\xff"} {
		if _, err := CheckName(bad); !errors.Is(err, api.ErrBadRequest) {
			t.Errorf("CheckName(%.10q): %v", bad, err)
		}
	}
}

// TestListByNameWithoutGroupOnly: the contact list is by name whatever the case, ties by
// id, and leaves out fellow group members the user never added.
func TestListByNameWithoutGroupOnly(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		for _, r := range []contacts.Record{{ID: "c1", UserID: "u1", Name: "bob"}, {ID: "c2", UserID: "u2", Name: "Ann"},
			{ID: "c3", UserID: "u3", Name: "zed", GroupOnly: true}, {ID: "c0", UserID: "u4", Name: "ann"}} {
			if err := contacts.Create(tx, &r); err != nil {
				return err
			}
		}
		return nil
	})
	_ = st.View(func(tx *store.Tx) error {
		got, err := List(tx, func(c *sessions.Contact) api.Contact { return api.Contact{ID: c.ID, Name: c.Name} })
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if want := []string{"c0", "c2", "c1"}; !slices.Equal(ids, want) {
			t.Errorf("list %v, want %v", ids, want)
		}
		return nil
	})
}

// TestSafetyNumberSameOnBothSides: both accounts compute the same safety number for each
// other, a third account another one, and a contact whose key does not parse none.
func TestSafetyNumberSameOnBothSides(t *testing.T) {
	a, b, c := newIdentity(t), newIdentity(t), newIdentity(t)
	contactOf := func(id *identity.Identity) *sessions.Contact {
		return &sessions.Contact{Record: contacts.Record{Identity: id.Public().Bytes()}}
	}
	ab := SafetyNumber(a.Public(), string(a.UserID()), contactOf(b))
	ba := SafetyNumber(b.Public(), string(b.UserID()), contactOf(a))
	if ab == "" || ab != ba {
		t.Errorf("a sees %q, b sees %q", ab, ba)
	}
	if ac := SafetyNumber(a.Public(), string(a.UserID()), contactOf(c)); ac == ab {
		t.Error("another contact has the same safety number")
	}
	if n := SafetyNumber(a.Public(), string(a.UserID()), &sessions.Contact{Record: contacts.Record{Identity: []byte("junk")}}); n != "" {
		t.Errorf("a key that does not parse gave %q", n)
	}
}
