package grouplog

import (
	"encoding/json"
	"slices"

	"github.com/petrel-chat/petrel/node/wire"
)

// maxOpMembers bounds the JSON of the cards one operation carries, so that it stays well
// within wire.MaxGroupOp and one gops content.
const maxOpMembers = 120 << 10

// ChunkMembers splits cards into runs whose JSON fits maxOpMembers (at least one run).
func ChunkMembers(cards []wire.GroupMember) [][]wire.GroupMember {
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

// Log is a log in fold order, with where each member first appears: what a member
// new to the group needs in its first content (For).
type Log struct {
	ops    [][]byte
	joined map[string]int // user id → index of the first operation that lists them
}

// Sort puts the operations in raws in fold order (those that do not parse are dropped).
func Sort(raws [][]byte) *Log {
	var ss []*wire.SignedGroupOp
	for _, r := range raws {
		if s, err := wire.ParseGroupOp(r); err == nil {
			ss = append(ss, s)
		}
	}
	slices.SortFunc(ss, Less)
	l := &Log{joined: map[string]int{}}
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

// For orders the log for member uid, who is new to the group: the create, then the
// operation that added them, then the rest in fold order. A large group's log takes
// several contents, and a node folds what it has received so far: from the first one on,
// it must see the group and itself in it.
func (l *Log) For(uid string) [][]byte {
	i, ok := l.joined[uid]
	if !ok || i == 0 {
		return l.ops
	}
	out := make([][]byte, 0, len(l.ops))
	out = append(out, l.ops[0], l.ops[i])
	out = append(out, l.ops[1:i]...)
	return append(out, l.ops[i+1:]...)
}
