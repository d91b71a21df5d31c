package groups

import (
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// sendLog sends the whole log to member uid, who is new to the group (grouplog.Log.For).
func (s *Service) sendLog(tx *store.Tx, pw Pairwise, g *Group, uid string, l *grouplog.Log) error {
	if l == nil {
		l = grouplog.Sort(g.Ops)
	}
	return s.sendOps(tx, pw, g, uid, l.For(uid))
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
