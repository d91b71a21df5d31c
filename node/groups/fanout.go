package groups

import (
	"context"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/groups/owed"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Fan-out. A change that concerns few members is sent to them in its own transaction. A
// change that concerns many (a large group's create, add, remove, rename…) would write a
// content per member there — an outbox entry, a sent copy and the contact record each —
// and no transaction holds that for a thousand members. Such a change writes instead, with
// the operation, one small record per member naming what this node owes them (gf/): the
// operations, our sender key as it was then, a contact to make; the group service then
// sends what is owed in transactions of at most fanoutPerTx members. The operation, the
// new state and the rotated sender key are durable with the change, before anything
// leaves the node, and a removed member is owed nothing but its removal.
//
// A new member is owed the whole log, which at the cap is half a megabyte: it is sent once
// the member has taken a first small content (a gsync), that is once their outbox is empty,
// so the log is not copied into the outbox of every member who is offline.
const (
	fanoutInline = 16 // members a change sends to in its own transaction
	fanoutPerTx  = 64 // members one fan-out transaction serves
	fanoutBytes  = 4 << 20
)

// drainFanout sends what is owed, for at most fanoutPerTx members, in one transaction. It
// reports whether members are left to serve now (more) and whether some wait for members
// to take what they were sent (waiting).
func (s *Service) drainFanout(ctx context.Context) (more, waiting bool, err error) {
	// Looking costs no write transaction: what waits for members is looked at every
	// fanoutRecheck, and the store's writer has better things to do.
	ready, owing, err := s.fanoutReady()
	if err != nil || !ready {
		return false, owing, err
	}
	err = s.st.Update(ctx, func(tx *store.Tx) error {
		more, waiting = false, false
		type item struct {
			gid, uid string
			f        *owed.Rec
		}
		var items []item
		err := owed.Each(tx, func(gid, uid string, f *owed.Rec) (bool, error) {
			items = append(items, item{gid: gid, uid: uid, f: f})
			return true, nil
		})
		if err != nil {
			return err
		}
		pw := s.cfg.Pairwise(tx)
		groups := map[string]*Group{}
		logs := map[string]*grouplog.Log{}
		served, bytes := 0, 0
		for _, it := range items {
			if served >= fanoutPerTx || bytes >= fanoutBytes {
				more = true
				break
			}
			g, ok := groups[it.gid]
			if !ok {
				g, err = grouplog.Load(tx, it.gid)
				if errors.Is(err, api.ErrNotFound) {
					g, err = nil, nil
				}
				if err != nil {
					return err
				}
				groups[it.gid] = g
			}
			n, err := s.serve(tx, pw, g, it.uid, it.f, logs)
			if err != nil {
				return err
			}
			if n > 0 {
				served++
				bytes += n
			}
			if it.f.Empty() || g == nil {
				if err := owed.Put(tx, it.gid, it.uid, nil); err != nil {
					return err
				}
				continue
			}
			if n > 0 {
				if err := owed.Put(tx, it.gid, it.uid, it.f); err != nil {
					return err
				}
			}
			waiting = true // served as far as it goes: the rest waits for the member
		}
		// Key snapshots no one is owed any more.
		for gid := range groups {
			if err := owed.DropUnowedSnaps(tx, gid); err != nil {
				return err
			}
		}
		return nil
	})
	return more, waiting, err
}

// DrainFanout serves, in one transaction, what members are owed and can take now, as the
// service's loop does after a change; more says whether members are left to serve now.
// Tests and tools call it to settle a change without running the service.
func (s *Service) DrainFanout(ctx context.Context) (more bool, err error) {
	more, _, err = s.drainFanout(ctx)
	return more, err
}

// FanoutDue reports whether the service will look for what members are owed (it does
// from its start, for what a previous run still owed, and after every change that owes).
func (s *Service) FanoutDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fanDue
}

// fanoutReady reports whether some member can be served now (ready) and whether any is
// owed anything (owing).
func (s *Service) fanoutReady() (ready, owing bool, err error) {
	err = s.st.View(func(tx *store.Tx) error {
		pw := s.cfg.Pairwise(tx)
		return owed.Each(tx, func(_, uid string, f *owed.Rec) (bool, error) {
			owing = true
			if f.Contact || f.Key != "" || len(f.Ops) > 0 || !f.Probed {
				ready = true
				return false, nil
			}
			empty, err := pw.OutboxEmpty(uid)
			if err != nil {
				return false, err
			}
			ready = empty
			return !ready, nil
		})
	})
	return ready, owing, err
}

// serve sends member uid of g what f says we owe them, as far as it can now, updating f;
// it returns the bytes queued.
func (s *Service) serve(tx *store.Tx, pw Pairwise, g *Group, uid string, f *owed.Rec, logs map[string]*grouplog.Log) (n int, err error) {
	if g == nil {
		return 0, nil
	}
	mb := g.Member(uid)
	if f.Contact {
		if mb != nil && g.Me {
			if err := pw.AddMember(mb); err != nil {
				return 0, err
			}
		}
		f.Contact = false
		n++
	}
	if f.Key != "" {
		k, ok, err := owed.LoadSnap(tx, g.ID, f.Key)
		if err != nil {
			return 0, err
		}
		if ok && mb != nil && g.Me {
			key := &wire.Content{Kind: wire.KindGroupKey, Group: g.ID, Head: g.Head, Data: k.Data, GSeq: k.GSeq}
			if err := s.giveKey(tx, pw, g, uid, key); err != nil {
				return 0, err
			}
		}
		f.Key = ""
		n += len(k.Data) + 64
	}
	if len(f.Ops) > 0 {
		var ops [][]byte
		for _, k := range f.Ops {
			raw, err := tx.Get(append(grouplog.OpPrefix(g.ID), k...))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return 0, err
			}
			ops = append(ops, raw)
			n += len(raw)
		}
		if err := s.sendOps(tx, pw, g, uid, ops); err != nil {
			return 0, err
		}
		f.Ops = nil
	}
	if f.All {
		c, err := pw.Contact(uid)
		if err != nil {
			return 0, err
		}
		switch {
		case c == nil || c.Blocked:
			f.All = false
		case !f.Probed:
			if err := pw.Send(uid, &wire.Content{Kind: wire.KindGroupSync, Group: g.ID, Head: g.Head}); err != nil {
				return 0, err
			}
			f.Probed = true
			n += 256
		default:
			empty, err := pw.OutboxEmpty(uid)
			if err != nil {
				return 0, err
			}
			if !empty {
				return n, nil
			}
			if logs[g.ID] == nil {
				if err := grouplog.WithOps(tx, g); err != nil {
					return 0, err
				}
				logs[g.ID] = grouplog.Sort(g.Ops)
			}
			if err := s.sendLog(tx, pw, g, uid, logs[g.ID]); err != nil {
				return 0, err
			}
			for _, o := range g.Ops {
				n += len(o)
			}
			f.All, f.Probed = false, false
		}
	}
	return n, nil
}
