package groups

import (
	"context"
	"errors"
	"strings"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
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

// fanoutRec is what we owe one member of one group.
type fanoutRec struct {
	Contact bool     `json:"contact,omitempty"` // make them a (group-only) contact first
	Key     string   `json:"key,omitempty"`     // our sender key as of then: a gs/ snapshot
	Ops     []string `json:"ops,omitempty"`     // operations (go/ keys) to send
	All     bool     `json:"all,omitempty"`     // the whole log (they are new)
	Probed  bool     `json:"probed,omitempty"`  // the gsync that precedes the log is queued
}

func (f *fanoutRec) empty() bool { return !f.Contact && f.Key == "" && len(f.Ops) == 0 && !f.All }

func kGroupFanPrefix() []byte             { return []byte("gf/") }
func kGroupFan(gid, uid string) []byte    { return []byte("gf/" + gid + "/" + uid) }
func kGroupKeySnap(gid, id string) []byte { return []byte("gs/" + gid + "/" + id) }
func kGroupKeySnapPrefix(gid string) []byte {
	return []byte("gs/" + gid + "/")
}

// owe merges what change adds into what we owe member uid of gid.
func owe(tx *store.Tx, gid, uid string, change func(*fanoutRec)) error {
	var f fanoutRec
	if _, err := getJSON(tx, kGroupFan(gid, uid), &f); err != nil {
		return err
	}
	change(&f)
	if f.All {
		f.Ops = nil // the log holds them
	}
	return putJSON(tx, kGroupFan(gid, uid), &f)
}

// snapKey saves key (a gkey content of ours) for the members it is owed to and returns its
// name.
func snapKey(tx *store.Tx, gid string, key *wire.Content) (string, error) {
	id := newID("k")
	return id, putJSON(tx, kGroupKeySnap(gid, id), &stashedKey{Data: key.Data, GSeq: key.GSeq})
}

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
			f        fanoutRec
		}
		var items []item
		err := tx.Iterate(store.IterOptions{Prefix: kGroupFanPrefix()}, func(k, v []byte) (bool, error) {
			gid, uid, ok := strings.Cut(string(k[len(kGroupFanPrefix()):]), "/")
			if !ok {
				return true, nil
			}
			it := item{gid: gid, uid: uid}
			if err := jsonUnmarshal(k, v, &it.f); err != nil {
				return false, err
			}
			items = append(items, it)
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
			n, err := s.serve(tx, pw, g, it.uid, &it.f, logs)
			if err != nil {
				return err
			}
			if n > 0 {
				served++
				bytes += n
			}
			if it.f.empty() || g == nil {
				if err := tx.Delete(kGroupFan(it.gid, it.uid)); err != nil {
					return err
				}
				continue
			}
			if n > 0 {
				if err := putJSON(tx, kGroupFan(it.gid, it.uid), &it.f); err != nil {
					return err
				}
			}
			waiting = true // served as far as it goes: the rest waits for the member
		}
		// Key snapshots no one is owed any more.
		for gid := range groups {
			if err := dropUnowedSnaps(tx, gid); err != nil {
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
		return tx.Iterate(store.IterOptions{Prefix: kGroupFanPrefix()}, func(k, v []byte) (bool, error) {
			owing = true
			var f fanoutRec
			if err := jsonUnmarshal(k, v, &f); err != nil {
				return false, err
			}
			if f.Contact || f.Key != "" || len(f.Ops) > 0 || !f.Probed {
				ready = true
				return false, nil
			}
			_, uid, _ := strings.Cut(string(k[len(kGroupFanPrefix()):]), "/")
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
func (s *Service) serve(tx *store.Tx, pw Pairwise, g *Group, uid string, f *fanoutRec, logs map[string]*grouplog.Log) (n int, err error) {
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
		var k stashedKey
		ok, err := getJSON(tx, kGroupKeySnap(g.ID, f.Key), &k)
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

// dropUnowedSnaps deletes gid's key snapshots once no member is owed one.
func dropUnowedSnaps(tx *store.Tx, gid string) error {
	owed := map[string]bool{}
	err := tx.Iterate(store.IterOptions{Prefix: []byte("gf/" + gid + "/")}, func(k, v []byte) (bool, error) {
		var f fanoutRec
		if err := jsonUnmarshal(k, v, &f); err != nil {
			return false, err
		}
		owed[f.Key] = true
		return true, nil
	})
	if err != nil {
		return err
	}
	var drop [][]byte
	err = tx.Iterate(store.IterOptions{Prefix: kGroupKeySnapPrefix(gid)}, func(k, _ []byte) (bool, error) {
		if !owed[string(k[len(kGroupKeySnapPrefix(gid)):])] {
			drop = append(drop, append([]byte(nil), k...))
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
