package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
)

const groupVectorsFile = "testdata/group_vectors.json"

// groupVector: a private identity signs Op; Signed is the exact signed form, GroupID the
// id a create op founds, Topic the topic of Secret.
type groupVector struct {
	Comment string  `json:"comment"`
	Private string  `json:"private"`
	Op      GroupOp `json:"op"`
	Signed  string  `json:"signed"`
	GroupID string  `json:"group_id,omitempty"`
	Topic   string  `json:"topic,omitempty"`
}

// testIdentity derives a fixed identity from one byte.
func testIdentity(tb testing.TB, b byte) *identity.Identity {
	tb.Helper()
	priv := append([]byte{identity.Version}, bytes.Repeat([]byte{b}, 64)...)
	id, err := identity.Unmarshal(priv)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

func testMember(tb testing.TB, id *identity.Identity, role string) GroupMember {
	return GroupMember{UserID: string(id.UserID()), Identity: id.Public().Bytes(), Role: role, Name: "n",
		PeerID: "12D3KooWtest", Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Relays: []string{}}
}

func makeGroupVectors(tb testing.TB) []groupVector {
	a, b := testIdentity(tb, 1), testIdentity(tb, 2)
	create := GroupOp{ID: "o1", TS: "0000019a00000000000a", Author: string(a.UserID()), Kind: OpCreate,
		Name: "friends", Members: []GroupMember{testMember(tb, a, "admin"), testMember(tb, b, "member")},
		Secret: bytes.Repeat([]byte{7}, GroupSecretSize), Max: 500}
	vs := []groupVector{{Comment: "create, two members", Private: hex.EncodeToString(a.Marshal()), Op: create}}
	for _, op := range []GroupOp{
		{ID: "o2", TS: "0000019a00000000000b", Author: string(a.UserID()), Kind: OpRename, Name: "pals"},
		{ID: "o3", TS: "0000019a00000000000c", Author: string(a.UserID()), Kind: OpRemove, Users: []string{string(b.UserID())}},
	} {
		vs = append(vs, groupVector{Comment: op.Kind, Private: hex.EncodeToString(a.Marshal()), Op: op})
	}
	for i := range vs {
		v := &vs[i]
		id := testIdentity(tb, 1)
		if i > 0 {
			v.Op.Group = vs[0].GroupID
		}
		raw, err := SignGroupOp(id, &v.Op)
		if err != nil {
			tb.Fatal(err)
		}
		v.Signed = hex.EncodeToString(raw)
		if v.Op.Kind == OpCreate {
			s, err := ParseGroupOp(raw)
			if err != nil {
				tb.Fatal(err)
			}
			v.GroupID = s.CreatedGroupID()
			v.Topic = GroupTopic(v.Op.Secret)
		}
	}
	return vs
}

func TestGroupOpKnownAnswers(t *testing.T) {
	want := makeGroupVectors(t)
	if *update {
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(groupVectorsFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(groupVectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var got []groupVector
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("group vectors: the set is empty")
	}
	a := testIdentity(t, 1)
	for i, v := range got {
		raw, _ := hex.DecodeString(v.Signed)
		again, err := SignGroupOp(a, &v.Op)
		if err != nil || !bytes.Equal(again, raw) {
			t.Errorf("vector %d (%s): signing gives other bytes (%v)", i, v.Comment, err)
		}
		s, err := ParseGroupOp(raw)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if !s.Verify(a.Public()) {
			t.Errorf("vector %d: does not verify", i)
		}
		if v.Op.Kind == OpCreate && (s.CreatedGroupID() != v.GroupID || GroupTopic(v.Op.Secret) != v.Topic) {
			t.Errorf("vector %d: group id or topic differ", i)
		}
	}
}

func TestGroupOpSignatureBindsAuthorAndBytes(t *testing.T) {
	vs := makeGroupVectors(t)
	raw, _ := hex.DecodeString(vs[1].Signed)
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	s, err := ParseGroupOp(raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Verify(b.Public()) {
		t.Fatal("verified under another member's key")
	}
	for i := 1; i < len(raw); i++ {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x20
		if s, err := ParseGroupOp(bad); err == nil && s.Verify(a.Public()) {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	// The author field must name the signer.
	op := vs[1].Op
	op.Author = string(b.UserID())
	forged, err := SignGroupOp(a, &op)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := ParseGroupOp(forged); s.Verify(a.Public()) || s.Verify(b.Public()) {
		t.Fatal("an op claiming another author verified")
	}
}

func TestLiveRoundTrip(t *testing.T) {
	for _, l := range []Live{{Type: LiveHeartbeat}, {Type: LiveHidden}, {Type: LiveTyping, Conv: "g1", State: "start"}} {
		b, err := MarshalLive(&l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseLive(b)
		if err != nil || *got != l {
			t.Fatalf("%s: %+v %v", b, got, err)
		}
	}
	for _, s := range []string{`{"t":"typing","conv":"x"}`, `{"t":"hb","state":"start"}`, `{"t":"x"}`, `{"t":"hb","extra":1}`, `{"t":"hb"} {}`} {
		if _, err := ParseLive([]byte(s)); err == nil {
			t.Errorf("accepted %s", s)
		}
	}
}

func FuzzParseGroupOp(f *testing.F) {
	for _, v := range makeGroupVectors(f) {
		raw, _ := hex.DecodeString(v.Signed)
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseGroupOp(b)
		if err != nil {
			return
		}
		_ = s.CreatedGroupID()
		if _, err := json.Marshal(s.Op); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseLive(f *testing.F) {
	f.Add([]byte(`{"t":"typing","conv":"g1","state":"stop"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLive(b)
		if err != nil {
			return
		}
		again, err := MarshalLive(l)
		if err != nil {
			t.Fatalf("parsed but does not encode: %v", err)
		}
		if l2, err := ParseLive(again); err != nil || *l2 != *l {
			t.Fatal("does not round-trip")
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add(AppendEnvelope(nil, []byte{1, 1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseEnvelope(b)
		if err == nil && !bytes.Equal(AppendEnvelope(nil, m), b) {
			t.Fatal("does not round-trip")
		}
	})
}

// TestGroupMailRoundTrip: a group mail carries its group id and envelope; a bad id, an
// empty envelope or another type is refused.
func TestGroupMailRoundTrip(t *testing.T) {
	env := AppendEnvelope(nil, []byte{1, 1, 2, 3})
	b := AppendGroupMail(nil, "g0123abcd", env)
	gid, got, err := ParseGroupMail(b)
	if err != nil || gid != "g0123abcd" || !bytes.Equal(got, env) {
		t.Fatalf("%q %x %v", gid, got, err)
	}
	for name, bad := range map[string][]byte{
		"deliver type":    append([]byte{TypeDeliver}, b[1:]...),
		"empty id":        AppendGroupMail(nil, "", env),
		"id with a dot":   AppendGroupMail(nil, "g.1", env),
		"no envelope":     AppendGroupMail(nil, "g1", nil),
		"bad envelope":    AppendGroupMail(nil, "g1", []byte{9, 9}),
		"id past the end": {GroupMailType, 40, 'g'},
	} {
		if _, _, err := ParseGroupMail(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseGroupMail(f *testing.F) {
	f.Add(AppendGroupMail(nil, "g0123abcd", AppendEnvelope(nil, []byte{1, 1, 2, 3})))
	f.Add([]byte{GroupMailType, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		gid, env, err := ParseGroupMail(b)
		if err == nil && !bytes.Equal(AppendGroupMail(nil, gid, env), b) {
			t.Fatal("does not round-trip")
		}
	})
}

func TestGroupKeySignedForOneGroupAndSender(t *testing.T) {
	a, c := testIdentity(t, 1), testIdentity(t, 2)
	dist := append([]byte{0x01, 0x01}, bytes.Repeat([]byte{7}, distSize-2)...)
	data := SignGroupKey(a, "gone", dist)
	got, signed, err := OpenGroupKey(data, "gone", a.Public())
	if err != nil || !signed || !bytes.Equal(got, dist) {
		t.Fatalf("own key: %v signed=%v", err, signed)
	}
	// Another group, another sender, any flipped bit: refused.
	if _, _, err := OpenGroupKey(data, "gtwo", a.Public()); !errors.Is(err, ErrMalformed) {
		t.Errorf("replayed into another group: %v", err)
	}
	if _, _, err := OpenGroupKey(data, "gone", c.Public()); !errors.Is(err, ErrMalformed) {
		t.Errorf("passed off as another sender's: %v", err)
	}
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x10
		if _, _, err := OpenGroupKey(bad, "gone", a.Public()); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	// A bare distribution (older nodes) is legacy, not signed; anything else is refused.
	if got, signed, err := OpenGroupKey(dist, "gone", a.Public()); err != nil || signed || !bytes.Equal(got, dist) {
		t.Errorf("legacy: %v signed=%v", err, signed)
	}
	for _, b := range [][]byte{nil, {GroupKeyVersion}, data[:len(data)-1], append(bytes.Clone(data), 0), dist[1:]} {
		if _, _, err := OpenGroupKey(b, "gone", a.Public()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v", len(b), err)
		}
	}
	// The owner encoding is unambiguous.
	if bytes.Equal(GroupKeyOwner("ab", "c"), GroupKeyOwner("a", "bc")) {
		t.Error("owner encoding is ambiguous")
	}
}

func FuzzOpenGroupKey(f *testing.F) {
	a := testIdentity(f, 1)
	dist := append([]byte{0x01, 0x01}, bytes.Repeat([]byte{7}, distSize-2)...)
	f.Add(SignGroupKey(a, "gone", dist))
	f.Add(dist)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, signed, err := OpenGroupKey(b, "gone", a.Public())
		if err != nil {
			return
		}
		if len(got) != distSize || (signed && !bytes.Equal(SignGroupKey(a, "gone", got), b)) {
			t.Fatalf("accepted %x as %x", b, got)
		}
	})
}
