package owed

import (
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

func snapshots(t *testing.T, st *store.Store, gid string) int {
	t.Helper()
	n := 0
	err := st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: kKeySnapPrefix(gid), KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The store keys are the first release's, byte for byte: a node upgraded in place still
// sends what it owed.
func TestStoreKeysAreUnchanged(t *testing.T) {
	if got := string(kFan("g1", "u1")); got != "gf/g1/u1" {
		t.Errorf("owed key %q", got)
	}
	if got := string(kKeySnap("g1", "k1")); got != "gs/g1/k1" {
		t.Errorf("snapshot key %q", got)
	}
}

// What a large change owes members is merged per member, and a key snapshot lives as
// long as some member is owed it.
func TestOwedRecordsMergeAndSnapshotsGoWhenNoOneIsOwed(t *testing.T) {
	st := storetest.Open(t)
	key := &wire.Content{Kind: wire.KindGroupKey, Data: []byte("key"), GSeq: 3}
	var snap string
	storetest.Update(t, st, func(tx *store.Tx) error {
		var err error
		if snap, err = SnapKey(tx, "g1", key); err != nil {
			return err
		}
		if err := Owe(tx, "g1", "u1", func(f *Rec) { f.Ops = []string{"o1"} }); err != nil {
			return err
		}
		if err := Owe(tx, "g1", "u1", func(f *Rec) { f.Key = snap; f.Ops = append(f.Ops, "o2") }); err != nil {
			return err
		}
		return Owe(tx, "g1", "u2", func(f *Rec) { f.Ops = []string{"o1"}; f.All = true })
	})
	var f1, f2 Rec
	err := st.View(func(tx *store.Tx) error {
		if _, err := store.GetJSON(tx, kFan("g1", "u1"), &f1); err != nil {
			return err
		}
		_, err := store.GetJSON(tx, kFan("g1", "u2"), &f2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f1.Key != snap || !slices.Equal(f1.Ops, []string{"o1", "o2"}) || f2.Ops != nil || !f2.All {
		t.Fatalf("owed %+v and %+v", f1, f2)
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return DropUnowedSnaps(tx, "g1") })
	if n := snapshots(t, st, "g1"); n != 1 {
		t.Fatalf("%d snapshots while u1 is owed one", n)
	}
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := tx.Delete(kFan("g1", "u1")); err != nil {
			return err
		}
		return DropUnowedSnaps(tx, "g1")
	})
	if n := snapshots(t, st, "g1"); n != 0 {
		t.Fatalf("%d snapshots once no one is owed one", n)
	}
}
