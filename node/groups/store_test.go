package groups

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// openStore opens a real store in a temp dir, closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Create(t.TempDir(), []byte("test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func update(t *testing.T, st *store.Store, f func(tx *store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func keysUnder(t *testing.T, st *store.Store, prefix []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
			out[string(k)] = bytes.Clone(v)
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

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
		{string(kGroupFan("g1", "u1")), "gf/g1/u1"},
		{string(kGroupKeySnap("g1", "k1")), "gs/g1/k1"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

// What a large change owes members is merged per member, and a key snapshot lives as
// long as some member is owed it.
func TestOwedRecordsMergeAndSnapshotsGoWhenNoOneIsOwed(t *testing.T) {
	st := openStore(t)
	key := &wire.Content{Kind: wire.KindGroupKey, Data: []byte("key"), GSeq: 3}
	var snap string
	update(t, st, func(tx *store.Tx) error {
		var err error
		if snap, err = snapKey(tx, "g1", key); err != nil {
			return err
		}
		if err := owe(tx, "g1", "u1", func(f *fanoutRec) { f.Ops = []string{"o1"} }); err != nil {
			return err
		}
		if err := owe(tx, "g1", "u1", func(f *fanoutRec) { f.Key = snap; f.Ops = append(f.Ops, "o2") }); err != nil {
			return err
		}
		return owe(tx, "g1", "u2", func(f *fanoutRec) { f.Ops = []string{"o1"}; f.All = true })
	})
	var f1, f2 fanoutRec
	err := st.View(func(tx *store.Tx) error {
		if _, err := getJSON(tx, kGroupFan("g1", "u1"), &f1); err != nil {
			return err
		}
		_, err := getJSON(tx, kGroupFan("g1", "u2"), &f2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f1.Key != snap || !slices.Equal(f1.Ops, []string{"o1", "o2"}) || f2.Ops != nil || !f2.All {
		t.Fatalf("owed %+v and %+v", f1, f2)
	}
	update(t, st, func(tx *store.Tx) error { return dropUnowedSnaps(tx, "g1") })
	if n := len(keysUnder(t, st, kGroupKeySnapPrefix("g1"))); n != 1 {
		t.Fatalf("%d snapshots while u1 is owed one", n)
	}
	update(t, st, func(tx *store.Tx) error {
		if err := tx.Delete(kGroupFan("g1", "u1")); err != nil {
			return err
		}
		return dropUnowedSnaps(tx, "g1")
	})
	if n := len(keysUnder(t, st, kGroupKeySnapPrefix("g1"))); n != 0 {
		t.Fatalf("%d snapshots once no one is owed one", n)
	}
}

// A member's receipt only moves forward, and Receipts lists every member who sent one.
func TestReceiptsAreKeptPerMember(t *testing.T) {
	st := openStore(t)
	update(t, st, func(tx *store.Tx) error {
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
