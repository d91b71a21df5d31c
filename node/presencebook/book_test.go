package presencebook

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

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

// TestBookReadsContactsGroupsAndTypingPeers: the book answers presence from the store: a
// contact by id and by peer, the list, group membership only where we are a member, and
// typing recipients — the contact's peer with its addresses unless blocked, the other
// members of a group we are in, forbidden in a group we left, not_found for no
// conversation.
func TestBookReadsContactsGroupsAndTypingPeers(t *testing.T) {
	st := storetest.Open(t)
	me := "u-me"
	ann, bob, carol := newPeer(t), newPeer(t), newPeer(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		for _, c := range []*contacts.Record{
			{ID: "c1", UserID: "u-ann", PeerID: ann.String(), Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, ConvID: "d1", Request: api.RequestAccepted},
			{ID: "c2", UserID: "u-bob", PeerID: bob.String(), ConvID: "d2", Blocked: true},
		} {
			if err := contacts.Create(tx, c); err != nil {
				return err
			}
		}
		for _, cv := range []*history.Conversation{
			{ID: "d1", Type: api.ConversationDirect, ContactID: "c1"},
			{ID: "d2", Type: api.ConversationDirect, ContactID: "c2"},
			{ID: "g1", Type: api.ConversationGroup},
			{ID: "g2", Type: api.ConversationGroup},
		} {
			if err := history.PutConversation(tx, cv); err != nil {
				return err
			}
		}
		members := []wire.GroupMember{{UserID: me, PeerID: newPeer(t).String()}, {UserID: "u-ann", PeerID: ann.String()}, {UserID: "u-carol", PeerID: carol.String()}}
		if err := grouplog.Save(tx, &grouplog.Group{ID: "g1", Me: true, Members: members}, nil); err != nil {
			return err
		}
		return grouplog.Save(tx, &grouplog.Group{ID: "g2", Me: false, Members: members[1:]}, nil)
	})
	b := New(st, func() string { return me })

	if c, ok := b.Contact("c1"); !ok || c.Peer != ann || !c.Accepted || c.ConvID != "d1" || c.Blocked {
		t.Errorf("Contact(c1) = %+v, %v", c, ok)
	}
	if _, ok := b.Contact("nobody"); ok {
		t.Error("an unknown contact is found")
	}
	if c, ok := b.ContactAt(bob); !ok || c.ID != "c2" || !c.Blocked || c.Accepted {
		t.Errorf("ContactAt(bob) = %+v, %v", c, ok)
	}
	if _, ok := b.ContactAt(carol); ok {
		t.Error("a peer no contact holds is found")
	}
	if n := len(b.Contacts()); n != 2 {
		t.Errorf("Contacts: %d, want 2", n)
	}
	if !b.InGroup("g1", "u-carol") || b.InGroup("g1", "u-bob") || b.InGroup("g2", "u-ann") || b.InGroup("g9", "u-ann") {
		t.Error("InGroup: want only members of a group we are in")
	}

	if ps, err := b.Recipients("d1"); err != nil || len(ps) != 1 || ps[0].ID != ann || len(ps[0].Addrs) != 1 {
		t.Errorf("Recipients(d1) = %+v, %v", ps, err)
	}
	if ps, err := b.Recipients("d2"); err != nil || len(ps) != 0 {
		t.Errorf("Recipients of a blocked contact = %+v, %v; want none", ps, err)
	}
	ps, err := b.Recipients("g1")
	if err != nil || len(ps) != 2 || ps[0].ID == ps[1].ID {
		t.Fatalf("Recipients(g1) = %+v, %v", ps, err)
	}
	for _, p := range ps {
		if p.ID != ann && p.ID != carol {
			t.Errorf("Recipients(g1) has %s: not another member", p.ID)
		}
	}
	if _, err := b.Recipients("g2"); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("Recipients of a group we left: %v, want forbidden", err)
	}
	if _, err := b.Recipients("nowhere"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("Recipients of no conversation: %v, want not_found", err)
	}
}

// TestHiddenFollowsTheSetting: presence is hidden exactly when the setting says nobody, and
// shown when the settings cannot be read.
func TestHiddenFollowsTheSetting(t *testing.T) {
	st := storetest.Open(t)
	set := api.Settings{Presence: api.PresenceContacts}
	var fail error
	hidden := Hidden(st, func(*store.Tx) (api.Settings, error) { return set, fail })
	if hidden() {
		t.Error("hidden with presence: contacts")
	}
	set.Presence = api.PresenceNobody
	if !hidden() {
		t.Error("shown with presence: nobody")
	}
	fail = errors.New("unreadable")
	if hidden() {
		t.Error("hidden when the settings cannot be read")
	}
}
