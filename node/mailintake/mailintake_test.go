package mailintake

import (
	"context"
	"log/slog"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups"
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

// groupMail is a shared envelope (a multi deposit's) sealed by sender to recipient,
// carrying a group envelope of group gid: a real Sender Keys message, which the group path
// would look up (Groups.Owner) and decrypt had the intake let it through.
func groupMail(t *testing.T, sender *identity.Identity, recipient *identity.PublicIdentity, gid string) []byte {
	t.Helper()
	chain, err := senderkey.NewSender()
	if err != nil {
		t.Fatal(err)
	}
	skm, err := chain.Encrypt([]byte("hello group"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := sealed.SealBody(wire.AppendGroupMail(nil, gid, wire.AppendEnvelope(nil, skm)))
	if err != nil {
		t.Fatal(err)
	}
	defer body.Destroy()
	hdr, err := body.HeaderFrom(make([]byte, 32), recipient, sender)
	if err != nil {
		t.Fatal(err)
	}
	return sealed.JoinShared(hdr, body.Body())
}

// TestGroupMailFromNoProvenContactDropped is the attack: group mail sealed by a stranger,
// by a blocked contact, or by a key that is not the contact's is dropped before the group
// path sees it (Groups is nil here: reaching it would panic), as is mail that does not
// open; Receive still succeeds, so the relay is acknowledged and nothing is kept forever.
func TestGroupMailFromNoProvenContactDropped(t *testing.T) {
	st := storetest.Open(t)
	me, mallory, blocked, stale := newIdentity(t), newIdentity(t), newIdentity(t), newIdentity(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := contacts.Create(tx, &contacts.Record{ID: "c1", UserID: string(blocked.UserID()), Identity: blocked.Public().Bytes(), Blocked: true}); err != nil {
			return err
		}
		// A contact of stale's user id whose record holds another key.
		return contacts.Create(tx, &contacts.Record{ID: "c2", UserID: string(stale.UserID()), Identity: mallory.Public().Bytes()})
	})
	looked := map[string]bool{}
	cfg := Config{Store: st, Identity: me, Log: slog.New(slog.DiscardHandler),
		GroupBatch: func(tx *store.Tx) (func(string) (*sessions.Contact, error), groups.Pairwise) {
			return func(uid string) (*sessions.Contact, error) {
				looked[uid] = true
				cid, err := contacts.ByUser(tx, uid)
				if err != nil || cid == "" {
					return nil, err
				}
				return sessions.LoadContact(tx, cid)
			}, nil
		}}
	envs := [][]byte{
		groupMail(t, mallory, me.Public(), "g1"),
		groupMail(t, blocked, me.Public(), "g1"),
		groupMail(t, stale, me.Public(), "g1"),
		groupMail(t, mallory, newIdentity(t).Public(), "g1"), // sealed to someone else
		[]byte("not an envelope"),
	}
	if err := Receive(context.Background(), cfg, envs); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	for _, id := range []*identity.Identity{mallory, blocked, stale} {
		if !looked[string(id.UserID())] {
			t.Errorf("the sender %s was never looked up: the mail did not get as far as the check", id.UserID())
		}
	}
	if err := Receive(context.Background(), cfg, nil); err != nil {
		t.Errorf("an empty drain: %v", err)
	}
}
