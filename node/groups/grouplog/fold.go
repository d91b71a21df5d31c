package grouplog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/wire"
)

// foldState is group state while operations are applied.
type foldState struct {
	name    string
	members map[string]wire.GroupMember
	secret  []byte
	max     int
	// disappear, disappearTS, disappearBy: the timer the latest OpDisappear set.
	disappear                int64
	disappearTS, disappearBy string
}

// Less orders operations: the create first, then by (timestamp, author, id, hash of the
// signed bytes). Every member sorts the same set identically.
func Less(a, b *wire.SignedGroupOp) int {
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

// Fold computes a group's state from its operations: it sorts them (Less) and applies
// each in turn if it is valid at that point: signed by its author, the author a member, an
// admin for anything but leave, an add that keeps the group within the create op's cap.
// Invalid operations are kept in the log but change nothing, so every member that holds
// the same set computes the same state, whatever order the operations arrived in. A group
// left without an admin promotes its member with the smallest user id.
func Fold(gid string, raws [][]byte) (*Group, error) {
	return foldWith(gid, raws, nil)
}

// foldWith is Fold calling applied (when not nil) with each operation that changed the
// state, in fold order, the create first (Changes lists them for the UI).
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
			if s.CreatedGroupID() != gid || (create != nil && Less(create, s) < 0) {
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
	slices.SortFunc(ops, Less)
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
		case wire.OpDisappear:
			st.disappear, st.disappearTS, st.disappearBy = op.Disappear, op.TS, op.Author
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
	g := &Group{ID: gid, Name: st.name, Secret: st.secret, Max: st.max,
		Disappear: st.disappear, DisappearTS: st.disappearTS, DisappearBy: st.disappearBy}
	for _, s := range ops {
		g.Ops = append(g.Ops, s.Raw)
	}
	for _, m := range st.members {
		g.Members = append(g.Members, m)
	}
	slices.SortFunc(g.Members, func(a, b wire.GroupMember) int { return strings.Compare(a.UserID, b.UserID) })
	g.Head = Head(g.Ops)
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

// Head names a set of operations: equal heads, equal logs, equal state.
func Head(ops [][]byte) string {
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

// Merge returns the union of a log and new operations, or nil when nothing is new.
func Merge(have, add [][]byte) [][]byte {
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
