package messenger

import (
	"context"
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// A key no verified device list of A holds signs a gkey as a device of A, properly bound
// to itself, and it reaches B as if from that device: B installs no chain for it, so what
// that key's holder publishes in the group is nobody's (Unlisted), never A's.
func TestGroupKeyOfAnUnlistedDeviceIsRefused(t *testing.T) {
	a, b, _, gid := trio(t)
	rogue, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dev := string(rogue.UserID())
	ss, err := senderkey.NewSenderBound(wire.GroupKeyOwner(gid, dev))
	if err != nil {
		t.Fatal(err)
	}
	err = b.st.Update(context.Background(), func(tx *store.Tx) error {
		g, err := groups.Load(tx, gid)
		if err != nil {
			return err
		}
		ct := &wire.Content{Kind: wire.KindGroupKey, Group: gid, Head: g.Head, Data: wire.SignGroupKey(rogue, gid, ss.Distribution()), GSeq: 1}
		return b.groups.ApplyFrom(tx, b.groupPairwise(tx, txContacts{}), a.uid, dev, ct)
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = b.st.View(func(tx *store.Tx) error {
		if _, err := tx.Get(kGroupRecv(gid, dev)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("B holds a chain for a device no list of A names (%v)", err)
		}
		return nil
	})
	skm, err := ss.Encrypt([]byte("forged"))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := b.groups.Owner(gid, sm); ok {
		t.Fatalf("the rogue key's message is attributed to %s (device %s)", o.User, o.Device)
	}
}
