package receipts

import (
	"testing"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// Receipts keep when they arrived; records of the earlier release (the level byte alone)
// stay readable, without times, and gain times as later receipts arrive.
func TestReceiptTimesKeptAndOldRecordsRead(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := tx.Set(Key("m1", "old"), []byte{1}); err != nil { // earlier release
			return err
		}
		if _, changed, err := Note(tx, "m1", "u1", 1, 1000); err != nil || !changed {
			t.Fatalf("first delivered: %v %v", changed, err)
		}
		if _, changed, err := Note(tx, "m1", "u1", 1, 1500); err != nil || changed {
			t.Fatalf("a repeated delivered receipt changed the record: %v %v", changed, err)
		}
		if prev, changed, err := Note(tx, "m1", "u1", 2, 2000); err != nil || !changed || prev.Level != 1 {
			t.Fatalf("read: %+v %v %v", prev, changed, err)
		}
		if _, _, err := Note(tx, "m1", "u2", 2, 3000); err != nil { // read before delivered
			return err
		}
		_, _, err := Note(tx, "m1", "old", 2, 4000)
		return err
	})
	err := st.View(func(tx *store.Tx) error {
		want := map[string]Receipt{
			"u1":  {Level: 2, DeliveredAt: 1000, ReadAt: 2000},
			"u2":  {Level: 2, DeliveredAt: 3000, ReadAt: 3000},
			"old": {Level: 2, DeliveredAt: 4000, ReadAt: 4000},
		}
		got := map[string]Receipt{}
		if err := Each(tx, "m1", func(uid string, r Receipt) { got[uid] = r }); err != nil {
			return err
		}
		if len(got) != len(want) {
			t.Fatalf("receipts %+v", got)
		}
		for uid, w := range want {
			if got[uid] != w {
				t.Fatalf("%s: %+v, want %+v", uid, got[uid], w)
			}
			if r, err := Of(tx, "m1", uid); err != nil || r.Level != w.Level {
				t.Fatalf("level of %s: %d %v", uid, r.Level, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return tx.Set(Key("m2", "old"), []byte{2}) })
	err = st.View(func(tx *store.Tx) error {
		r, err := Of(tx, "m2", "old")
		if err != nil || r != (Receipt{Level: 2}) {
			t.Fatalf("an old read record: %+v %v", r, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKeyIsTheFirstReleases(t *testing.T) {
	if got := string(Key("m1", "u1")); got != "gt/m1/u1" {
		t.Fatalf("Key = %q, want gt/m1/u1", got)
	}
}
