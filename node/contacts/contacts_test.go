package contacts

import (
	"errors"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
)

// TestCreateFindAndMove: a created contact is found by id, user and peer; moving it to
// another peer and user releases the old index entries, and a peer another contact holds
// is not released by someone else's move.
func TestCreateFindAndMove(t *testing.T) {
	st := storetest.Open(t)
	a := &Record{ID: "c1", UserID: "u1", PeerID: "p1", Name: "Ann", ConvID: "d1"}
	b := &Record{ID: "c2", UserID: "u2", PeerID: "p2", Name: "Ben"}
	storetest.Update(t, st, func(tx *store.Tx) error {
		if err := Create(tx, a); err != nil {
			return err
		}
		return Create(tx, b)
	})
	_ = st.View(func(tx *store.Tx) error {
		got, err := Get(tx, "c1")
		if err != nil || got.Name != "Ann" || got.V != Version {
			t.Fatalf("Get: %+v %v", got, err)
		}
		if id, _ := ByUser(tx, "u1"); id != "c1" {
			t.Fatalf("ByUser: %q", id)
		}
		if id, _ := ByPeer(tx, "p2"); id != "c2" {
			t.Fatalf("ByPeer: %q", id)
		}
		return nil
	})
	storetest.Update(t, st, func(tx *store.Tx) error {
		r, err := Get(tx, "c1")
		if err != nil {
			return err
		}
		if err := SetPeer(tx, r, "p3", true); err != nil {
			return err
		}
		if err := SetUser(tx, r, "u9"); err != nil {
			return err
		}
		return Put(tx, r)
	})
	_ = st.View(func(tx *store.Tx) error {
		for k, want := range map[string]string{"p1": "", "p3": "c1", "p2": "c2"} {
			if id, _ := ByPeer(tx, k); id != want {
				t.Errorf("peer %s: %q, want %q", k, id, want)
			}
		}
		if id, _ := ByUser(tx, "u1"); id != "" {
			t.Errorf("old user still maps to %q", id)
		}
		r, _ := Get(tx, "c1")
		if !r.PeerProven || r.PeerID != "p3" || r.UserID != "u9" {
			t.Errorf("moved contact: %+v", r)
		}
		return nil
	})
}

// TestGetMissingAndUnknownVersion: a missing contact is not_found; a record of another
// version is an error, never read as this one.
func TestGetMissingAndUnknownVersion(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		return store.PutJSON(tx, Key("old"), map[string]any{"id": "old", "name": "from the release"})
	})
	_ = st.View(func(tx *store.Tx) error {
		if _, err := Get(tx, "nobody"); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
		if r, err := Get(tx, "old"); err == nil {
			t.Errorf("a version 0 record read as version %d: %+v", Version, r)
		}
		if err := List(tx, func(*Record) (bool, error) { return true, nil }); err == nil {
			t.Error("List read a version 0 record")
		}
		return nil
	})
}

// TestListAndToAPI: List yields every contact; ToAPI carries what the API shows.
func TestListAndToAPI(t *testing.T) {
	st := storetest.Open(t)
	storetest.Update(t, st, func(tx *store.Tx) error {
		for _, r := range []*Record{{ID: "c1", UserID: "u1", Name: "Ann", Verified: true, ConvID: "d1", Request: api.RequestAccepted}, {ID: "c2", UserID: "u2", Blocked: true, Changed: true}} {
			if err := Create(tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	var got []api.Contact
	seen := int64(42)
	_ = st.View(func(tx *store.Tx) error {
		return List(tx, func(r *Record) (bool, error) {
			got = append(got, ToAPI(r, "safety "+r.ID, &seen))
			return true, nil
		})
	})
	if len(got) != 2 {
		t.Fatalf("listed %d", len(got))
	}
	a, b := got[0], got[1]
	if a.ID != "c1" || a.Name != "Ann" || !a.Verified || a.ConversationID != "d1" || a.SafetyNumber != "safety c1" || a.Request != api.RequestAccepted || *a.LastSeen != 42 {
		t.Errorf("c1: %+v", a)
	}
	if !b.Blocked || !b.IdentityChanged || b.Verified {
		t.Errorf("c2: %+v", b)
	}
}
