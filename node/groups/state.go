package groups

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// maxGroupLog bounds the operations one group's log keeps.
const maxGroupLog = 4096

// Group is a group as stored: its signed operation log and the state derived from it
// (recomputed by fold whenever the log changes), and our sending side.
//
// Layout (groupLayout): gr/ holds the header (no members), gn/<gid>/<bucket> the
// members in memberBuckets buckets by a hash of the user id, go/<gid>/<op hash> one
// signed operation each, gm/ the meta record. A change writes the header, the buckets
// of the members it changes and the operations it adds: O(change), not O(group). The
// first release kept the members in gr/ and the whole log in gl/ (layout 0); such a
// group is read as it is and rewritten in this layout on its next change.
type Group struct {
	ID  string   `json:"id"`
	Ops [][]byte `json:"-"` // signed operations, in fold order (go/, loaded on demand)

	// Derived by fold.
	Name    string             `json:"name"`
	Members []wire.GroupMember `json:"members,omitempty"` // sorted by user id (gr/ in layout 0 only)
	Secret  []byte             `json:"secret"`
	Max     int                `json:"max"`
	Head    string             `json:"head"`

	Me      bool   `json:"me"` // we are a member
	SendSeq uint64 `json:"-"`  // our last group sequence number (gm/)
	Created int64  `json:"created"`
	Layout  int    `json:"layout,omitempty"`
}

// groupLayout is the storage layout saveGroup writes.
const groupLayout = 1

// memberBuckets is how many records hold a group's members: a change of one member
// rewrites one bucket (at the 1,000-member cap, about 16 members).
const memberBuckets = 64

// groupMeta is the little a group message needs, kept apart so that sending and receiving
// do not decode the member list or the log.
type groupMeta struct {
	Me      bool   `json:"me"`
	Head    string `json:"head"`
	SendSeq uint64 `json:"send_seq"`
	Members int    `json:"members"`
}

func kGroupMeta(gid string) []byte { return []byte("gm/" + gid) }
func kGroupLog(gid string) []byte  { return []byte("gl/" + gid) } // layout 0

func kGroupBucketPrefix(gid string) []byte { return []byte("gn/" + gid + "/") }
func kGroupBucket(gid string, b int) []byte {
	return fmt.Appendf(kGroupBucketPrefix(gid), "%02x", b)
}
func kGroupOpPrefix(gid string) []byte { return []byte("go/" + gid + "/") }
func kGroupOp(gid string, raw []byte) []byte {
	return append(kGroupOpPrefix(gid), opKey(raw)...)
}

// opKey names a signed operation in the store: a hash of its bytes.
func opKey(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:16])
}

func memberBucket(uid string) int {
	h := sha256.Sum256([]byte(uid))
	return int(h[0]) % memberBuckets
}

func loadGroupMeta(tx *store.Tx, gid string) (*groupMeta, error) {
	return load[groupMeta](tx, kGroupMeta(gid), "group", gid)
}

// withOps loads the group's operation log into g.
func withOps(tx *store.Tx, g *Group) error {
	if g.Ops != nil {
		return nil
	}
	if g.Layout < groupLayout {
		_, err := getJSON(tx, kGroupLog(g.ID), &g.Ops)
		return err
	}
	g.Ops = [][]byte{}
	return tx.Iterate(store.IterOptions{Prefix: kGroupOpPrefix(g.ID)}, func(_, v []byte) (bool, error) {
		g.Ops = append(g.Ops, bytes.Clone(v))
		return true, nil
	})
}

// saveGroup writes the group's state and its meta record: of what old (the state before,
// with its log; nil for a group new here) already holds, only what changed.
func saveGroup(tx *store.Tx, g, old *Group) error {
	hdr := *g
	hdr.Members, hdr.Layout = nil, groupLayout
	if err := putJSON(tx, kGroup(g.ID), &hdr); err != nil {
		return err
	}
	g.Layout = groupLayout
	fresh := old == nil || old.Layout < groupLayout
	if old != nil && old.Layout < groupLayout {
		if err := tx.Delete(kGroupLog(g.ID)); err != nil {
			return err
		}
	}

	// Members: the buckets in which anyone joined, left or changed.
	prev := map[string]*wire.GroupMember{}
	if !fresh {
		for i := range old.Members {
			prev[old.Members[i].UserID] = &old.Members[i]
		}
	}
	dirty := map[int]bool{}
	for i := range g.Members {
		mb := &g.Members[i]
		if p := prev[mb.UserID]; fresh || p == nil || !sameMember(p, mb) {
			dirty[memberBucket(mb.UserID)] = true
		}
		delete(prev, mb.UserID)
	}
	for u := range prev {
		dirty[memberBucket(u)] = true
	}
	if len(dirty) > 0 {
		buckets := map[int][]wire.GroupMember{}
		for _, mb := range g.Members {
			if b := memberBucket(mb.UserID); dirty[b] {
				buckets[b] = append(buckets[b], mb)
			}
		}
		for b := range dirty {
			var err error
			if len(buckets[b]) == 0 {
				err = tx.Delete(kGroupBucket(g.ID, b))
			} else {
				err = putJSON(tx, kGroupBucket(g.ID, b), buckets[b])
			}
			if err != nil {
				return err
			}
		}
	}

	// Operations: the new ones (and, should fold have dropped one, its deletion).
	had := map[string]bool{}
	if !fresh {
		for _, o := range old.Ops {
			had[opKey(o)] = true
		}
	}
	for _, o := range g.Ops {
		k := opKey(o)
		if !had[k] {
			if err := tx.Set(kGroupOp(g.ID, o), o); err != nil {
				return err
			}
		}
		delete(had, k)
	}
	for k := range had {
		if err := tx.Delete(append(kGroupOpPrefix(g.ID), k...)); err != nil {
			return err
		}
	}
	return putJSON(tx, kGroupMeta(g.ID), &groupMeta{Me: g.Me, Head: g.Head, SendSeq: g.SendSeq, Members: len(g.Members)})
}

func sameMember(a, b *wire.GroupMember) bool {
	return a.UserID == b.UserID && bytes.Equal(a.Identity, b.Identity) && a.Role == b.Role && a.Name == b.Name &&
		a.PeerID == b.PeerID && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Relays, b.Relays)
}

// memberRx is what we track of one member's group messages.
type memberRx struct {
	RecvSeq uint64     `json:"recv_seq"` // highest contiguous group seq received
	Ahead   []uint64   `json:"ahead"`
	Dists   []distInfo `json:"dists"` // chains we hold for them, newest first (≤ 2)
	// Owed: our chain as it was when we owed it to them (a gkey content), waiting for
	// them to start the pairwise session (see sendKey). Sending it later, from the
	// iteration it was owed at, lets them read what we sent meanwhile.
	Owed *wire.Content `json:"owed,omitempty"`
}

type distInfo struct {
	ID    string `json:"id"`              // hex distribution id
	Pub   []byte `json:"pub"`             // Ed25519 signing key
	Bound bool   `json:"bound,omitempty"` // the id is bound to its owner (senderkey.NewSenderBound)
}

func kGroup(gid string) []byte               { return []byte("gr/" + gid) }
func kGroupSender(gid string) []byte         { return []byte("gk/" + gid) }
func kGroupRecv(gid, uid string) []byte      { return []byte("gx/" + gid + "/" + uid) }
func kGroupRx(gid, uid string) []byte        { return []byte("gq/" + gid + "/" + uid) }
func kGroupRxPrefix(gid string) []byte       { return []byte("gq/" + gid + "/") }
func kGroupStash(gid, uid string) []byte     { return []byte("gw/" + gid + "/" + uid) }
func kGroupReceipt(msgID, uid string) []byte { return []byte("gt/" + msgID + "/" + uid) }
func kGroupSentPrefix(gid string) []byte     { return []byte("gh/" + gid + "/") }
func kGroupSent(gid string, seq uint64) []byte {
	return fmt.Appendf(kGroupSentPrefix(gid), "%016x", seq)
}

// loadGroup loads a group's state (not its log: withOps).
func loadGroup(tx *store.Tx, gid string) (*Group, error) {
	g, err := load[Group](tx, kGroup(gid), "group", gid)
	if err != nil {
		return nil, err
	}
	if g.Layout >= groupLayout {
		g.Members = nil
		err := tx.Iterate(store.IterOptions{Prefix: kGroupBucketPrefix(gid)}, func(_, v []byte) (bool, error) {
			var ms []wire.GroupMember
			if err := json.Unmarshal(v, &ms); err != nil {
				return false, fmt.Errorf("groups: group %s members: %w", gid, err)
			}
			g.Members = append(g.Members, ms...)
			return true, nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(g.Members, func(a, b wire.GroupMember) int { return strings.Compare(a.UserID, b.UserID) })
	}
	meta, err := loadGroupMeta(tx, gid)
	if err != nil {
		return nil, err
	}
	g.SendSeq = meta.SendSeq
	return g, nil
}

// member returns the member with user id uid, or nil.
func (g *Group) Member(uid string) *wire.GroupMember {
	i, ok := slices.BinarySearchFunc(g.Members, uid, func(m wire.GroupMember, u string) int { return strings.Compare(m.UserID, u) })
	if !ok {
		return nil
	}
	return &g.Members[i]
}

// foldState is group state while operations are applied.
type foldState struct {
	name    string
	members map[string]wire.GroupMember
	secret  []byte
	max     int
}

// opKey orders operations: the create first, then by (timestamp, author, id, hash of the
// signed bytes). Every member sorts the same set identically.
func opLess(a, b *wire.SignedGroupOp) int {
	if (a.Op.Kind == wire.OpCreate) != (b.Op.Kind == wire.OpCreate) {
		if a.Op.Kind == wire.OpCreate {
			return -1
		}
		return 1
	}
	if c := strings.Compare(a.Op.TS, b.Op.TS); c != 0 {
		return c
	}
	if c := strings.Compare(a.Op.Author, b.Op.Author); c != 0 {
		return c
	}
	if c := strings.Compare(a.Op.ID, b.Op.ID); c != 0 {
		return c
	}
	ha, hb := sha256.Sum256(a.Raw), sha256.Sum256(b.Raw)
	return bytes.Compare(ha[:], hb[:])
}

// fold computes a group's state from its operations: it sorts them (opLess) and applies
// each in turn if it is valid at that point: signed by its author, the author a member, an
// admin for anything but leave, an add that keeps the group within the create op's cap.
// Invalid operations are kept in the log but change nothing, so every member that holds
// the same set computes the same state, whatever order the operations arrived in. A group
// left without an admin promotes its member with the smallest user id.
func fold(gid string, raws [][]byte) (*Group, error) {
	return foldWith(gid, raws, nil)
}

// foldWith is fold calling applied (when not nil) with each operation that changed the
// state, in fold order, the create first (changes.go lists them for the UI).
func foldWith(gid string, raws [][]byte, applied func(*wire.SignedGroupOp)) (*Group, error) {
	var ops []*wire.SignedGroupOp
	seen := map[[32]byte]bool{}
	var create *wire.SignedGroupOp
	for _, r := range raws {
		s, err := wire.ParseGroupOp(r)
		if err != nil {
			continue
		}
		h := sha256.Sum256(r)
		if seen[h] {
			continue
		}
		seen[h] = true
		if s.Op.Kind == wire.OpCreate {
			if s.CreatedGroupID() != gid || (create != nil && opLess(create, s) < 0) {
				continue
			}
			create = s
			continue
		}
		if s.Op.Group != gid {
			continue
		}
		ops = append(ops, s)
	}
	if create == nil {
		return nil, fmt.Errorf("groups: group %s: no create operation", gid)
	}
	slices.SortFunc(ops, opLess)
	ops = append([]*wire.SignedGroupOp{create}, ops...)

	st := &foldState{members: map[string]wire.GroupMember{}}
	for i, s := range ops {
		op := s.Op
		if i == 0 {
			author := findMember(op.Members, op.Author)
			if author == nil || author.Role != api.RoleAdmin || !verifyBy(s, author) || len(op.Members) > op.Max {
				return nil, fmt.Errorf("groups: group %s: invalid create operation", gid)
			}
			st.name, st.secret, st.max = op.Name, op.Secret, op.Max
			for _, m := range op.Members {
				st.members[m.UserID] = m
			}
			if applied != nil {
				applied(s)
			}
			continue
		}
		author, ok := st.members[op.Author]
		if !ok || !verifyBy(s, &author) || (op.Kind != wire.OpLeave && author.Role != api.RoleAdmin) {
			continue
		}
		switch op.Kind {
		case wire.OpAdd:
			n := len(st.members)
			for _, m := range op.Members {
				if _, ok := st.members[m.UserID]; !ok {
					n++
				}
			}
			if n > st.max {
				continue
			}
			for _, m := range op.Members {
				if old, ok := st.members[m.UserID]; ok {
					m.Role = old.Role // a re-add refreshes the card, not the role
				} else {
					m.Role = api.RoleMember
				}
				st.members[m.UserID] = m
			}
		case wire.OpRemove:
			for _, u := range op.Users {
				delete(st.members, u)
			}
		case wire.OpLeave:
			delete(st.members, op.Author)
		case wire.OpRename:
			st.name = op.Name
		case wire.OpRole:
			for _, u := range op.Users {
				if m, ok := st.members[u]; ok {
					m.Role = op.Role
					st.members[u] = m
				}
			}
		}
		if applied != nil {
			applied(s)
		}
		st.promote()
	}
	g := &Group{ID: gid, Name: st.name, Secret: st.secret, Max: st.max}
	for _, s := range ops {
		g.Ops = append(g.Ops, s.Raw)
	}
	for _, m := range st.members {
		g.Members = append(g.Members, m)
	}
	slices.SortFunc(g.Members, func(a, b wire.GroupMember) int { return strings.Compare(a.UserID, b.UserID) })
	g.Head = head(g.Ops)
	return g, nil
}

// promote makes the member with the smallest user id admin when no admin is left.
func (st *foldState) promote() {
	first := ""
	for u, m := range st.members {
		if m.Role == api.RoleAdmin {
			return
		}
		if first == "" || u < first {
			first = u
		}
	}
	if first != "" {
		m := st.members[first]
		m.Role = api.RoleAdmin
		st.members[first] = m
	}
}

func findMember(ms []wire.GroupMember, uid string) *wire.GroupMember {
	for i := range ms {
		if ms[i].UserID == uid {
			return &ms[i]
		}
	}
	return nil
}

func verifyBy(s *wire.SignedGroupOp, m *wire.GroupMember) bool {
	pub, err := identity.ParsePublic(m.Identity)
	return err == nil && s.Verify(pub)
}

// head names a set of operations: equal heads, equal logs, equal state.
func head(ops [][]byte) string {
	hs := make([][32]byte, len(ops))
	for i, o := range ops {
		hs[i] = sha256.Sum256(o)
	}
	slices.SortFunc(hs, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	d := sha256.New()
	for _, h := range hs {
		d.Write(h[:])
	}
	return hex.EncodeToString(d.Sum(nil)[:12])
}

// mergeOps returns the union of a log and new operations, or nil when nothing is new.
func mergeOps(have, add [][]byte) [][]byte {
	known := map[[32]byte]bool{}
	for _, o := range have {
		known[sha256.Sum256(o)] = true
	}
	out := slices.Clone(have)
	for _, o := range add {
		h := sha256.Sum256(o)
		if !known[h] {
			known[h] = true
			out = append(out, o)
		}
	}
	if len(out) == len(have) {
		return nil
	}
	return out
}

// Load loads group gid's state (not its log: see LoadWithOps), or an api not_found error.
func Load(tx *store.Tx, gid string) (*Group, error) { return loadGroup(tx, gid) }

// LoadWithOps loads group gid's state and its signed operation log.
func LoadWithOps(tx *store.Tx, gid string) (*Group, error) {
	g, err := loadGroup(tx, gid)
	if err != nil {
		return nil, err
	}
	return g, withOps(tx, g)
}
