package groups

import (
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// The store keys are the first release's, byte for byte: a node upgraded in place reads
// the groups it already has.
func TestStoreKeysAreUnchanged(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(kGroupSender("g1")), "gk/g1"},
		{string(kGroupRecv("g1", "u1")), "gx/g1/u1"},
		{string(kGroupRx("g1", "u1")), "gq/g1/u1"},
		{string(kGroupStash("g1", "u1")), "gw/g1/u1"},
		{string(kGroupSent("g1", 258)), "gh/g1/0000000000000102"},
		{string(kGroupReceipt("m1", "u1")), "gt/m1/u1"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

// A member's receipt only moves forward, and Receipts lists every member who sent one.
func TestReceiptsAreKeptPerMember(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := tx.Set(kGroupReceipt("m1", "u1"), []byte{2}); err != nil {
			return err
		}
		if err := tx.Set(kGroupReceipt("m1", "u2"), []byte{1}); err != nil {
			return err
		}
		return tx.Set(kGroupReceipt("m1", "bad"), []byte{1, 2}) // not one byte: ignored
	})
	err := st.View(func(tx *store.Tx) error {
		got := map[string]int{}
		if err := Receipts(tx, "m1", func(uid string, level int) { got[uid] = level }); err != nil {
			return err
		}
		if len(got) != 2 || got["u1"] != 2 || got["u2"] != 1 {
			t.Fatalf("receipts %v", got)
		}
		for uid, want := range map[string]int{"u1": 2, "u2": 1, "u3": 0, "bad": 0} {
			if l, err := ReceiptLevel(tx, "m1", uid); err != nil || l != want {
				t.Fatalf("level of %s: %d, %v; want %d", uid, l, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
