package grouplog

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/store/storetest"
	"github.com/petrel-chat/petrel/node/wire"
)

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
		{string(kGroup("g1")), "gr/g1"},
		{string(kGroupMeta("g1")), "gm/g1"},
		{string(kGroupLog("g1")), "gl/g1"},
		{string(kGroupBucket("g1", 10)), "gn/g1/0a"},
		{string(kGroupOp("g1", []byte("op"))), "go/g1/" + OpKey([]byte("op"))},
		{OpKey([]byte("op")), "037aeaeaf4bbf26ddabe7256a8294dc5"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

// A group saved and loaded again is the same group, its members in buckets and its log
// one record per operation; after a change the buckets of members it did not touch hold
// what they held.
func TestSavedGroupLoadsBackAndAChangeKeepsOtherBuckets(t *testing.T) {
	st := storetest.Open(t)
	gid, ops := testLog(t)
	first, err := Fold(gid, ops[:1]) // the create alone
	if err != nil {
		t.Fatal(err)
	}
	first.Me = true
	storetest.Update(t, st, func(tx *store.Tx) error { return Save(tx, first, nil) })

	var got *Group
	storetest.Update(t, st, func(tx *store.Tx) error {
		got, err = LoadWithOps(tx, gid)
		return err
	})
	if stateOf(t, got) != stateOf(t, first) || len(got.Ops) != 1 || got.Layout != layout || !got.Me {
		t.Fatalf("loaded %s (layout %d, %d ops), saved %s", stateOf(t, got), got.Layout, len(got.Ops), stateOf(t, first))
	}
	bucketsBefore := keysUnder(t, st, kGroupBucketPrefix(gid))

	full, err := Fold(gid, ops)
	if err != nil {
		t.Fatal(err)
	}
	full.Me = true
	storetest.Update(t, st, func(tx *store.Tx) error { return Save(tx, full, got) })
	storetest.Update(t, st, func(tx *store.Tx) error {
		got, err = LoadWithOps(tx, gid)
		return err
	})
	if stateOf(t, got) != stateOf(t, full) || len(got.Ops) != len(full.Ops) {
		t.Fatalf("after the change: %s with %d ops, want %s with %d", stateOf(t, got), len(got.Ops), stateOf(t, full), len(full.Ops))
	}
	if n := len(keysUnder(t, st, OpPrefix(gid))); n != len(ops) {
		t.Fatalf("%d operation records, want %d", n, len(ops))
	}
	// Only the buckets of members who joined, left or changed differ.
	changed := map[int]bool{}
	prev := map[string]wire.GroupMember{}
	for _, mb := range first.Members {
		prev[mb.UserID] = mb
	}
	for _, mb := range full.Members {
		if p, ok := prev[mb.UserID]; !ok || !sameMember(&p, &mb) {
			changed[memberBucket(mb.UserID)] = true
		}
		delete(prev, mb.UserID)
	}
	for u := range prev {
		changed[memberBucket(u)] = true
	}
	after := keysUnder(t, st, kGroupBucketPrefix(gid))
	for k, v := range bucketsBefore {
		if w, ok := after[k]; ok && !bytes.Equal(v, w) && !changedKey(gid, k, changed) {
			t.Fatalf("bucket %s changed though none of its members did", k)
		}
	}
	meta, err := func() (*Meta, error) {
		var m *Meta
		err := st.View(func(tx *store.Tx) error {
			var err error
			m, err = LoadMeta(tx, gid)
			return err
		})
		return m, err
	}()
	if err != nil || meta.Members != len(full.Members) || meta.Head != full.Head || !meta.Me {
		t.Fatalf("meta %+v (%v), want %d members, head %s", meta, err, len(full.Members), full.Head)
	}
}

func changedKey(gid, k string, changed map[int]bool) bool {
	for b := range changed {
		if string(kGroupBucket(gid, b)) == k {
			return true
		}
	}
	return false
}

// A group in the first layout (members in gr/, the whole log in gl/) is read as it is,
// and its next save moves it to the current layout and drops gl/.
func TestFirstLayoutGroupIsReadAndRewritten(t *testing.T) {
	st := storetest.Open(t)
	gid, ops := testLog(t)
	g, err := Fold(gid, ops)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Update(t, st, func(tx *store.Tx) error {
		old := map[string]any{"id": g.ID, "name": g.Name, "members": g.Members, "secret": g.Secret, "max": g.Max,
			"head": g.Head, "me": true, "created": 1}
		if err := store.PutJSON(tx, kGroup(gid), old); err != nil {
			return err
		}
		if err := store.PutJSON(tx, kGroupMeta(gid), &Meta{Me: true, Head: g.Head, Members: len(g.Members)}); err != nil {
			return err
		}
		return store.PutJSON(tx, kGroupLog(gid), g.Ops)
	})
	var old *Group
	storetest.Update(t, st, func(tx *store.Tx) error {
		old, err = LoadWithOps(tx, gid)
		return err
	})
	if old.Layout != 0 || stateOf(t, old) != stateOf(t, g) || len(old.Ops) != len(g.Ops) {
		t.Fatalf("first layout read as %s (layout %d, %d ops)", stateOf(t, old), old.Layout, len(old.Ops))
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return Save(tx, g, old) })
	err = st.View(func(tx *store.Tx) error {
		if _, err := tx.Get(kGroupLog(gid)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("gl/ still there: %v", err)
		}
		now, err := LoadWithOps(tx, gid)
		if err != nil {
			return err
		}
		if now.Layout != layout || stateOf(t, now) != stateOf(t, g) || len(now.Ops) != len(g.Ops) {
			t.Fatalf("rewritten as %s (layout %d, %d ops)", stateOf(t, now), now.Layout, len(now.Ops))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Changes lists what the fold applied, oldest first, and nothing it refused: the
// demoted admin's removal, a member's rename.
func TestChangesListOnlyAppliedOperations(t *testing.T) {
	st := storetest.Open(t)
	gid, ops := testLog(t)
	g, err := Fold(gid, ops)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Update(t, st, func(tx *store.Tx) error { return Save(tx, g, nil) })
	var chs []api.GroupChange
	err = st.View(func(tx *store.Tx) error {
		chs, err = Changes(tx, gid)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range chs {
		kinds = append(kinds, c.Kind)
	}
	want := []string{wire.OpCreate, wire.OpRole, wire.OpRename, wire.OpAdd, wire.OpLeave}
	if !slices.Equal(kinds, want) {
		t.Fatalf("changes %v, want %v", kinds, want)
	}
	if chs[2].Name != "by one" || len(chs[0].Users) != 3 || len(chs[3].Users) != 1 {
		t.Fatalf("changes %+v", chs)
	}
	if err := st.View(func(tx *store.Tx) error { _, err := Changes(tx, "gnone"); return err }); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("changes of no group: %v", err)
	}
}
