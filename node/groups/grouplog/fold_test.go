package grouplog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

func testID(tb testing.TB, b byte) *identity.Identity {
	tb.Helper()
	id, err := identity.Unmarshal(append([]byte{identity.Version}, bytes.Repeat([]byte{b}, 64)...))
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func card(id *identity.Identity, role string) wire.GroupMember {
	return wire.GroupMember{UserID: string(id.UserID()), Identity: id.Public().Bytes(), Role: role,
		PeerID: "12D3KooWtest", Addrs: []string{}, Relays: []string{}}
}

func sign(tb testing.TB, id *identity.Identity, op wire.GroupOp) []byte {
	tb.Helper()
	op.Author = string(id.UserID())
	raw, err := wire.SignGroupOp(id, &op)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// testLog is a group of five created by ids[0] with ids[1] as a second admin, and a run of
// concurrent changes by both admins and a member.
func testLog(tb testing.TB) (string, [][]byte) {
	var ids []*identity.Identity
	for i := range 5 {
		ids = append(ids, testID(tb, byte(i+1)))
	}
	ts := func(n int) string { return hlc.Timestamp{Wall: 1_700_000_000_000, Logical: uint32(n)}.String() }
	create := sign(tb, ids[0], wire.GroupOp{ID: "c", TS: ts(0), Kind: wire.OpCreate, Name: "g",
		Members: []wire.GroupMember{card(ids[0], "admin"), card(ids[1], "admin"), card(ids[2], "member"), card(ids[3], "member")},
		Secret:  bytes.Repeat([]byte{1}, 32), Max: 5})
	s, _ := wire.ParseGroupOp(create)
	gid := s.CreatedGroupID()
	u := func(i int) string { return string(ids[i].UserID()) }
	ops := [][]byte{create,
		sign(tb, ids[0], wire.GroupOp{Group: gid, ID: "a1", TS: ts(5), Kind: wire.OpRename, Name: "by zero"}),
		sign(tb, ids[1], wire.GroupOp{Group: gid, ID: "b1", TS: ts(5), Kind: wire.OpRename, Name: "by one"}),
		sign(tb, ids[1], wire.GroupOp{Group: gid, ID: "b2", TS: ts(3), Kind: wire.OpRole, Users: []string{u(0)}, Role: "member"}),
		sign(tb, ids[0], wire.GroupOp{Group: gid, ID: "a2", TS: ts(4), Kind: wire.OpRemove, Users: []string{u(3)}}), // after demotion: ignored
		sign(tb, ids[1], wire.GroupOp{Group: gid, ID: "b3", TS: ts(6), Kind: wire.OpAdd, Members: []wire.GroupMember{card(ids[4], "admin")}}),
		sign(tb, ids[2], wire.GroupOp{Group: gid, ID: "m1", TS: ts(7), Kind: wire.OpRename, Name: "by a member"}), // not an admin
		sign(tb, ids[1], wire.GroupOp{Group: gid, ID: "b4", TS: ts(8), Kind: wire.OpLeave}),
	}
	return gid, ops
}

func stateOf(tb testing.TB, g *Group) string {
	b, _ := json.Marshal(struct {
		N string
		M []wire.GroupMember
		H string
	}{g.Name, g.Members, g.Head})
	return string(b)
}

func TestFoldConvergesWhateverTheOrder(t *testing.T) {
	gid, ops := testLog(t)
	ref, err := Fold(gid, ops)
	if err != nil {
		t.Fatal(err)
	}
	want := stateOf(t, ref)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		shuffled := append([][]byte(nil), ops...)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if i%2 == 1 { // duplicates change nothing
			shuffled = append(shuffled, shuffled[:3]...)
		}
		g, err := Fold(gid, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if got := stateOf(t, g); got != want {
			t.Fatalf("order %d gives\n%s\nwant\n%s", i, got, want)
		}
	}
	// The creator's removal comes after its demotion and is ignored, the member's rename
	// is ignored, the new member joins as a member, and when the second admin leaves, the
	// member with the smallest user id becomes the only admin.
	if len(ref.Members) != 4 || ref.Member(string(testID(t, 4).UserID())) == nil {
		t.Fatalf("members: %s", want)
	}
	admins := 0
	for _, m := range ref.Members {
		if m.Role == "admin" {
			admins++
		}
	}
	if admins != 1 || ref.Name == "by a member" {
		t.Fatalf("state: %s", want)
	}
}

func TestFoldRefusesForgedAndForeignOps(t *testing.T) {
	gid, ops := testLog(t)
	outsider := testID(t, 9)
	forged := sign(t, outsider, wire.GroupOp{Group: gid, ID: "x", TS: hlc.Timestamp{Wall: 1_700_000_000_000, Logical: 1}.String(), Kind: wire.OpRename, Name: "pwned"})
	g, err := Fold(gid, append(ops[:1:1], forged))
	if err != nil || g.Name != "g" {
		t.Fatalf("outsider's rename applied: %v %q", err, g.Name)
	}
	if _, err := Fold("gnotthisgroup", ops); err == nil {
		t.Fatal("folded a log under another group id")
	}
	bad := bytes.Clone(ops[1])
	bad[len(bad)-1] ^= 1
	g, _ = Fold(gid, [][]byte{ops[0], bad})
	if g.Name != "g" {
		t.Fatal("a bad signature applied")
	}
}

func FuzzFold(f *testing.F) {
	gid, ops := testLog(f)
	for i := range ops {
		f.Add(ops[i], uint8(i))
	}
	f.Fuzz(func(t *testing.T, extra []byte, at uint8) {
		log := append([][]byte(nil), ops...)
		log = append(log[:int(at)%len(log)], extra)
		g, err := Fold(gid, log)
		if err == nil && len(g.Members) > g.Max {
			t.Fatalf("%d members over the cap %d", len(g.Members), g.Max)
		}
	})
}
