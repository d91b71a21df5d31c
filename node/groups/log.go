package groups

import (
	"encoding/json"
	"slices"

	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// maxOpMembers bounds the JSON of the cards one operation carries, so that it stays well
// within wire.MaxGroupOp and one gops content.
const maxOpMembers = 120 << 10

// chunkMembers splits cards into runs whose JSON fits maxOpMembers (at least one run).
func chunkMembers(cards []wire.GroupMember) [][]wire.GroupMember {
	out := [][]wire.GroupMember{nil}
	size := 0
	for _, c := range cards {
		b, _ := json.Marshal(c)
		if size+len(b) > maxOpMembers && len(out[len(out)-1]) > 0 {
			out, size = append(out, nil), 0
		}
		out[len(out)-1] = append(out[len(out)-1], c)
		size += len(b) + 1
	}
	return out
}

// groupLog is a log in fold order, with where each member first appears: what a member
// new to the group needs in its first content (logFor).
type groupLog struct {
	ops    [][]byte
	joined map[string]int // user id → index of the first operation that lists them
}

func sortLog(raws [][]byte) *groupLog {
	var ss []*wire.SignedGroupOp
	for _, r := range raws {
		if s, err := wire.ParseGroupOp(r); err == nil {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, opLess)
	l := &groupLog{joined: map[string]int{}}
	for i, s := range ss {
		l.ops = append(l.ops, s.Raw)
		for _, mb := range s.Op.Members {
			if _, ok := l.joined[mb.UserID]; !ok {
				l.joined[mb.UserID] = i
			}
		}
	}
	return l
}

// logFor orders the log for member uid, who is new to the group: the create, then the
// operation that added them, then the rest in fold order. A large group's log takes
// several contents, and a node folds what it has received so far: from the first one on,
// it must see the group and itself in it.
func (l *groupLog) logFor(uid string) [][]byte {
	i, ok := l.joined[uid]
	if !ok || i == 0 {
		return l.ops
	}
	out := make([][]byte, 0, len(l.ops))
	out = append(out, l.ops[0], l.ops[i])
	out = append(out, l.ops[1:i]...)
	return append(out, l.ops[i+1:]...)
}

// sendLog sends the whole log to member uid, who is new to the group (logFor).
func (s *Service) sendLog(tx *store.Tx, pw Pairwise, g *Group, uid string, l *groupLog) error {
	if l == nil {
		l = sortLog(g.Ops)
	}
	return s.sendOps(tx, pw, g, uid, l.logFor(uid))
}

// sendOps sends operations to member uid, in contents that fit.
func (s *Service) sendOps(tx *store.Tx, pw Pairwise, g *Group, uid string, ops [][]byte) error {
	const budget = 300 << 10 // raw bytes per content: base64 and JSON stay under MaxContent
	for len(ops) > 0 {
		n, size := 0, 0
		for n < len(ops) && n < wire.MaxGroupOps && (n == 0 || size+len(ops[n]) <= budget) {
			size += len(ops[n])
			n++
		}
		if err := pw.Send(uid, &wire.Content{Kind: wire.KindGroupOps, Group: g.ID, Head: g.Head, Ops: ops[:n]}); err != nil {
			return err
		}
		ops = ops[n:]
	}
	return nil
}
