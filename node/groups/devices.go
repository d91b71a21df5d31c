package groups

import (
	"context"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/groups/grouplog"
	"github.com/petrel-chat/petrel/node/store"
)

// Linked devices (docs/PROTOCOL.md, "Groups"): each device of a member has its own chain,
// kept per device (gx/, gq/ under the user id of the device's key). A device list change
// revokes a device's chains and rotates ours in its transaction (DevicesChangedTx); once
// committed, the new chain goes to the active devices (DevicesChanged).

// kGroupRekey marks a group whose rotated chain has not been handed out yet.
func kGroupRekey(gid string) []byte { return []byte("gy/" + gid) }

// DevicesChangedTx is called in the transaction that changed user uid's verified device
// list (ours for our own user id); the rest follows once tx commits.
func (s *Service) DevicesChangedTx(tx *store.Tx, uid string) error {
	ds, err := s.cfg.Pairwise(tx).Devices(uid) // reads only: tx's channels are the caller's
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, d := range ds {
		active[d.UID] = true
	}
	err = grouplog.Each(tx, func(g *Group) error {
		if !g.Me || uid != s.uid && g.Member(uid) == nil {
			return nil
		}
		dropped := false
		err := s.dropDeviceKeys(tx, g.ID, func(dev string, rx *memberRx) bool {
			gone := rx.user(dev) == uid && dev != uid && !active[dev]
			dropped = dropped || gone
			return gone
		})
		if err != nil || !dropped {
			return err
		}
		if _, err := s.rotateSender(tx, g); err != nil {
			return err
		}
		return tx.Set(kGroupRekey(g.ID), []byte{1})
	})
	if err != nil {
		return err
	}
	tx.OnCommit(func() { s.DevicesChanged(uid) })
	return nil
}

// DevicesChanged queues a new look at the groups of user uid, whose verified device list
// changed (DevicesChangedTx), once that change has committed.
func (s *Service) DevicesChanged(uid string) {
	s.mu.Lock()
	if s.devQ == nil {
		s.devQ = map[string]bool{}
	}
	s.devQ[uid] = true
	s.mu.Unlock()
	s.kick()
}

// devicesChanged hands out our chains in the groups we share with user uid.
func (s *Service) devicesChanged(ctx context.Context, uid string) {
	err := s.st.Update(ctx, func(tx *store.Tx) error {
		pw := s.cfg.Pairwise(tx)
		ds, err := pw.Devices(uid)
		if err != nil {
			return err
		}
		return grouplog.Each(tx, func(g *Group) error {
			if !g.Me || uid != s.uid && g.Member(uid) == nil {
				return nil
			}
			if done, err := s.handOut(tx, pw, g); err != nil || done {
				return err
			}
			ss, err := loadSender(tx, g.ID)
			if err != nil {
				return err
			}
			key := s.keyContent(g, ss)
			if uid == s.uid {
				if err := grouplog.WithOps(tx, g); err != nil {
					return err
				}
				if err := s.sendLog(tx, pw, g, s.uid, nil); err != nil {
					return err
				}
				return pw.Send(s.uid, key)
			}
			for _, d := range ds {
				if d.UID != uid { // their primary's chain and ours are not new to each other
					if err := pw.SendTo(uid, d.UID, key); err != nil {
						return err
					}
				}
			}
			return nil
		})
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("group keys after a device list change", "err", err)
	}
}

// handOut gives our chain in g to every member's active devices and to our own other
// devices when it was rotated without being handed out, or when this device has none yet
// (it got its groups in the history transfer: chains never move). It reports whether it did.
func (s *Service) handOut(tx *store.Tx, pw Pairwise, g *Group) (bool, error) {
	ss, err := loadSender(tx, g.ID)
	switch {
	case errors.Is(err, api.ErrForbidden):
		if ss, err = s.rotateSender(tx, g); err != nil {
			return false, err
		}
	case err != nil:
		return false, err
	default:
		if _, err := tx.Get(kGroupRekey(g.ID)); errors.Is(err, store.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	if err := tx.Delete(kGroupRekey(g.ID)); err != nil {
		return false, err
	}
	key := s.keyContent(g, ss)
	for _, mb := range g.Members {
		if mb.UserID != s.uid {
			if err := s.giveKey(tx, pw, g, mb.UserID, key); err != nil {
				return false, err
			}
		}
	}
	return true, pw.Send(s.uid, key)
}

// handOutAll is handOut for every group we are in (at start: what a previous run left).
func (s *Service) handOutAll(ctx context.Context) error {
	return s.st.Update(ctx, func(tx *store.Tx) error {
		pw := s.cfg.Pairwise(tx)
		return grouplog.Each(tx, func(g *Group) error {
			if !g.Me {
				return nil
			}
			_, err := s.handOut(tx, pw, g)
			return err
		})
	})
}
