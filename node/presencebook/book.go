package presencebook

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/presence"
	"github.com/petrel-chat/petrel/node/store"
)

// Contact is what presence knows of contact c.
func Contact(c *contacts.Record) presence.Contact {
	pid, _ := peer.Decode(c.PeerID)
	return presence.Contact{ID: c.ID, UserID: c.UserID, ConvID: c.ConvID, Peer: pid, Addrs: c.Addrs,
		Accepted: c.Request == api.RequestAccepted, GroupOnly: c.GroupOnly, Blocked: c.Blocked}
}

// New answers presence's questions from st for the account whose user id me returns (read
// at each question: a linked device learns its account's after New).
func New(st *store.Store, me func() string) presence.Book {
	return presence.Book{
		Contact: func(cid string) (presence.Contact, bool) {
			var out presence.Contact
			ok := false
			_ = st.View(func(tx *store.Tx) error {
				c, err := contacts.Get(tx, cid)
				if err == nil {
					out, ok = Contact(c), true
				}
				return nil
			})
			return out, ok
		},
		ContactAt: func(pid peer.ID) (presence.Contact, bool) {
			var out presence.Contact
			ok := false
			_ = st.View(func(tx *store.Tx) error {
				cid, err := contacts.ByPeer(tx, pid.String())
				if err != nil || cid == "" {
					return err
				}
				c, err := contacts.Get(tx, cid)
				if err == nil {
					out, ok = Contact(c), true
				}
				return err
			})
			return out, ok
		},
		Contacts: func() []presence.Contact {
			var out []presence.Contact
			_ = st.View(func(tx *store.Tx) error {
				return contacts.List(tx, func(c *contacts.Record) (bool, error) {
					out = append(out, Contact(c))
					return true, nil
				})
			})
			return out
		},
		InGroup: func(gid, member string) bool {
			ok := false
			_ = st.View(func(tx *store.Tx) error {
				g, err := groups.Load(tx, gid)
				ok = err == nil && g.Me && g.Member(member) != nil
				return nil
			})
			return ok
		},
		Recipients: func(convID string) ([]presence.Peer, error) {
			var out []presence.Peer
			err := st.View(func(tx *store.Tx) error {
				var err error
				out, err = TypingPeers(tx, me(), convID)
				return err
			})
			return out, err
		},
	}
}

// TypingPeers are the peers a typing signal of user uid in conversation convID goes to
// (presence.Book.Recipients): the contact's peer unless blocked, or the other members'.
func TypingPeers(tx *store.Tx, uid, convID string) ([]presence.Peer, error) {
	conv, err := history.GetConversation(tx, convID)
	if err != nil {
		return nil, err
	}
	var out []presence.Peer
	if conv.Type == api.ConversationGroup {
		g, err := groups.Load(tx, convID)
		if err != nil {
			return nil, err
		}
		if !g.Me {
			return nil, api.Errorf(api.ErrForbidden, "you are not a member of this group")
		}
		for _, mb := range g.Members {
			if mb.UserID == uid {
				continue
			}
			if pid, err := peer.Decode(mb.PeerID); err == nil {
				out = append(out, presence.Peer{ID: pid})
			}
		}
		return out, nil
	}
	c, err := contacts.Get(tx, conv.ContactID)
	if err != nil {
		return nil, err
	}
	if pid, err := peer.Decode(c.PeerID); err == nil && !c.Blocked {
		out = append(out, presence.Peer{ID: pid, Addrs: c.Addrs})
	}
	return out, nil
}

// Hidden reports whether our setting is presence: nobody (presence.Config.Hidden), read by
// settings from the store.
func Hidden(st *store.Store, settings func(tx *store.Tx) (api.Settings, error)) func() bool {
	return func() bool {
		hidden := false
		_ = st.View(func(tx *store.Tx) error {
			s, err := settings(tx)
			hidden = err == nil && s.Presence == api.PresenceNobody
			return nil
		})
		return hidden
	}
}
