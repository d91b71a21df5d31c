package grouplog

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// TestDisappearTimerFoldsLikeARename: the timer is the latest admin's OpDisappear in fold
// order, whatever order the operations arrive in; a member's, and a demoted admin's after
// the demotion, are ignored; a timer out of range does not even parse.
func TestDisappearTimerFoldsLikeARename(t *testing.T) {
	var ids []*identity.Identity
	for i := range 3 {
		ids = append(ids, testID(t, byte(i+1)))
	}
	ts := func(n int) string { return hlc.Timestamp{Wall: 1_700_000_000_000, Logical: uint32(n)}.String() }
	create := sign(t, ids[0], wire.GroupOp{ID: "c", TS: ts(0), Kind: wire.OpCreate, Name: "g",
		Members: []wire.GroupMember{card(ids[0], "admin"), card(ids[1], "admin"), card(ids[2], "member")},
		Secret:  bytes.Repeat([]byte{1}, 32), Max: 5})
	s, _ := wire.ParseGroupOp(create)
	gid := s.CreatedGroupID()
	timer := func(by int, id string, at int, secs int64) []byte {
		return sign(t, ids[by], wire.GroupOp{Group: gid, ID: id, TS: ts(at), Kind: wire.OpDisappear, Disappear: secs})
	}
	ops := [][]byte{create,
		timer(0, "a1", 2, 3600),
		timer(1, "b1", 4, 86400), // the latest admin's: in force
		timer(2, "m1", 6, 5),     // a member's: ignored
		sign(t, ids[0], wire.GroupOp{Group: gid, ID: "a2", TS: ts(5), Kind: wire.OpRole, Users: []string{string(ids[1].UserID())}, Role: "member"}),
		timer(1, "b2", 7, 30), // after b's demotion: ignored
	}
	for range 20 {
		rand.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		g, err := Fold(gid, ops)
		if err != nil {
			t.Fatal(err)
		}
		if g.Disappear != 86400 || g.DisappearTS != ts(4) || g.DisappearBy != string(ids[1].UserID()) {
			t.Fatalf("timer %d at %s by %s, want 86400 at %s by b", g.Disappear, g.DisappearTS, g.DisappearBy, ts(4))
		}
	}
	off := timer(0, "a3", 9, 0)
	g, err := Fold(gid, append(ops, off))
	if err != nil || g.Disappear != 0 || g.DisappearTS != ts(9) {
		t.Fatalf("turned off: %v %d %s", err, g.Disappear, g.DisappearTS)
	}
	for _, secs := range []int64{-1, 4, wire.MaxDisappear + 1} {
		op := &wire.GroupOp{Group: gid, ID: "x", TS: ts(10), Author: string(ids[0].UserID()), Kind: wire.OpDisappear, Disappear: secs}
		if _, err := wire.SignGroupOp(ids[0], op); err == nil {
			t.Errorf("a timer of %d s signed", secs)
		}
	}
}
