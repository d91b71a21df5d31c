package members

import (
	"slices"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/receipts"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Count counts member uid's receipt at level (1 delivered, 2 read) for m, one of our
// group messages, and derives its status: sent until every member has it, then delivered,
// then read when every member read it. A member counts once, whichever of their devices
// acknowledged (node/receipts keeps one record per member). It reports whether m changed.
func Count(tx *store.Tx, m *api.Message, uid string, level int, now int64) (bool, error) {
	prev, changed, err := receipts.Note(tx, m.ID, uid, level, now)
	if err != nil || !changed {
		return false, err
	}
	if prev.Level == 0 {
		m.Receipts.Delivered++
	}
	if level == 2 {
		m.Receipts.Read++
	}
	d, rd, total := m.Receipts.Delivered, m.Receipts.Read, m.Receipts.Total
	switch {
	case m.Status == api.StatusFailed:
	case rd >= total:
		m.Status = api.StatusRead
	case d >= total:
		m.Status = api.StatusDelivered
	case api.StatusRank(m.Status) < api.StatusRank(api.StatusSent):
		m.Status = api.StatusSent
	}
	return true, nil
}

// Level is what member uid acknowledged of our message id: 0 nothing, 1 delivered, 2 read.
// One key per member keeps an acknowledgement O(1) whatever the group's size.
func Level(tx *store.Tx, id, uid string) (int, error) {
	r, err := receipts.Of(tx, id, uid)
	return r.Level, err
}

// Each calls f for every member's receipt kept for our message id (members who have left
// since included), in user id order.
func Each(tx *store.Tx, id string, f func(uid string, level int)) error {
	prefix := receipts.Key(id, "")
	return tx.Iterate(store.IterOptions{Prefix: prefix}, func(k, v []byte) (bool, error) {
		if r := receipts.Decode(v); r.Level > 0 {
			f(string(k[len(prefix):]), r.Level)
		}
		return true, nil
	})
}

// Card is contact c's card for a group's state.
func Card(c *Contact, role string) wire.GroupMember {
	g := wire.GroupMember{UserID: c.UserID, Identity: c.Identity, Role: role, Name: c.Name, PeerID: c.PeerID,
		Addrs: c.Addrs[:min(len(c.Addrs), wire.MaxAddrs)], Relays: c.Relays[:min(len(c.Relays), wire.MaxAddrs)]}
	if g.Addrs == nil {
		g.Addrs = []string{}
	}
	if g.Relays == nil {
		g.Relays = []string{}
	}
	if len(g.Name) > wire.MaxName {
		g.Name = g.Name[:wire.MaxName]
	}
	return g
}

// Addable returns the cards of the contacts (contact looks them up) of user ids to add
// to a group, or an error the UI shows.
func Addable(contact func(uid string) (*Contact, error), uids []string) ([]wire.GroupMember, error) {
	var out []wire.GroupMember
	for _, u := range uids {
		c, err := contact(u)
		if err != nil {
			return nil, err
		}
		if c == nil || c.Request != api.RequestAccepted {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q is not one of your contacts", u)
		}
		if c.Blocked {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q is blocked", u)
		}
		if _, err := identity.ParsePublic(c.Identity); err != nil || c.PeerID == "" {
			return nil, api.Errorf(api.ErrBadRequest, "%.60q cannot be reached yet", u)
		}
		out = append(out, Card(c, api.RoleMember))
	}
	return out, nil
}

// Uniq is uids without duplicates and without drop, in order.
func Uniq(uids []string, drop string) []string {
	out := []string{}
	for _, u := range uids {
		if u != drop && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}
