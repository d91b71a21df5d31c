package messenger

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// trio is a group of three messengers, created by a, its contents shuttled.
func trio(t *testing.T) (a, b, c *Messenger, gid string) {
	t.Helper()
	a, b, c = testMessenger(t, "a"), testMessenger(t, "b"), testMessenger(t, "c")
	peers := map[*Messenger]string{a: "12D3KooWa", b: "12D3KooWb", c: "12D3KooWc"}
	for _, x := range []*Messenger{a, b, c} {
		for _, y := range []*Messenger{a, b, c} {
			if x != y {
				introduce(t, x, y, peers[y])
			}
		}
	}
	conv, err := a.CreateGroup(context.Background(), "trio", []string{b.uid, c.uid})
	if err != nil {
		t.Fatal(err)
	}
	shuttle(t, a, b, c)
	return a, b, c, conv.ID
}

// forgedDist is a distribution under id with keys of the forger's own.
func forgedDist(id senderkey.DistributionID) []byte {
	d := append([]byte{senderkey.Version, senderkey.Suite}, id[:]...)
	d = append(d, 0, 0, 0, 0)
	ck := make([]byte, 32)
	rand.Read(ck)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return append(append(d, ck...), pub...)
}

// C announces, signed by its own identity and unsigned (as an older node would), a chain
// under A's distribution id: B keeps A's chain as A's, and A's messages as A's.
func TestForgedKeyUnderAnotherMembersIDChangesNothing(t *testing.T) {
	a, b, c, gid := trio(t)
	env := send(t, a, gid, "a1", "hello")
	skm, _ := wire.ParseEnvelope(env)
	sm, err := senderkey.ParseMessage(skm)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := b.groups.Owner(gid, sm); !ok || o.User != a.uid || !o.Bound {
		t.Fatalf("before: owner %+v found %v", o, ok)
	}
	for _, data := range [][]byte{wire.SignGroupKey(c.id, gid, forgedDist(sm.ID())), forgedDist(sm.ID())} {
		err := c.st.Update(context.Background(), func(tx *store.Tx) error {
			g, err := groups.Load(tx, gid)
			if err != nil {
				return err
			}
			return c.groupPairwise(tx, txContacts{}).Send(b.uid, &wire.Content{Kind: wire.KindGroupKey, Group: gid, Head: g.Head, Data: data, GSeq: 1})
		})
		if err != nil {
			t.Fatal(err)
		}
		shuttle(t, a, b, c)
		if o, ok := b.groups.Owner(gid, sm); !ok || o.User != a.uid {
			t.Fatalf("after C's key: A's message is %+v's (found %v)", o, ok)
		}
		var rx memberRx
		_ = b.st.View(func(tx *store.Tx) error { _, err := store.GetJSON(tx, kGroupRx(gid, c.uid), &rx); return err })
		for _, d := range rx.Dists {
			if d.ID == sm.ID().String() {
				t.Fatal("B installed C's chain under A's id")
			}
		}
	}
	// B still reads A.
	if !opens(t, receiverOf(t, b, gid, a.uid), send(t, a, gid, "a2", "still A")) {
		t.Fatal("B cannot read A after C's keys")
	}
}
