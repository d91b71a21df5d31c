package sessions

import (
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestUpkeepCreatesRotatesAndRefills: at first start the prekey store is created with its
// one-time keys; a start past the rotation interval rotates the signed and last-resort keys,
// and a start with nothing due changes nothing.
func TestUpkeepCreatesRotatesAndRefills(t *testing.T) {
	st := storetest.Open(t)
	id := newID(t)
	now := time.Unix(1_800_000_000, 0)
	ids := func(at time.Time) (out [2]uint32, raw []byte) {
		_ = st.View(func(tx *store.Tx) error {
			var err error
			if out, _, err = CurrentIDs(tx, id, at); err != nil {
				t.Fatal(err)
			}
			raw, err = RawPrekeys(tx)
			return err
		})
		return out, raw
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return Upkeep(tx, id, now) })
	first, raw := ids(now)
	storetest.Update(t, st, func(tx *store.Tx) error { return Upkeep(tx, id, now.Add(time.Minute)) })
	if again, raw2 := ids(now); again != first || string(raw2) != string(raw) {
		t.Errorf("nothing due, yet the store changed (%v → %v)", first, again)
	}
	_ = st.View(func(tx *store.Tx) error {
		ps, err := LoadPrekeys(tx, id, now)
		if err != nil || len(ps.OneTimePrekeys()) == 0 || len(ps.PQOneTimePrekeys()) == 0 {
			t.Errorf("no one-time keys after the first start: %v", err)
		}
		return nil
	})
	later := now.Add(prekey.RotationInterval + time.Hour)
	storetest.Update(t, st, func(tx *store.Tx) error { return Upkeep(tx, id, later) })
	if rotated, _ := ids(later); rotated[0] == first[0] || rotated[1] == first[1] {
		t.Errorf("past the rotation interval the keys are still %v", rotated)
	}
}
