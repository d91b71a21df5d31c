package messenger

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/presence"
	"github.com/petrel-chat/petrel/node/store"
)

// Presence and typing live in node/presence; this file answers what it asks of contacts
// and groups (presence.Book), from the store.

// presenceContact is what presence knows of contact c.
func presenceContact(c *contacts.Record) presence.Contact {
	pid, _ := peer.Decode(c.PeerID)
	return presence.Contact{ID: c.ID, UserID: c.UserID, ConvID: c.ConvID, Peer: pid, Addrs: c.Addrs,
		Accepted: c.Request == api.RequestAccepted, GroupOnly: c.GroupOnly, Blocked: c.Blocked}
}

// presenceBook answers presence's questions from the store.
func (m *Messenger) presenceBook() presence.Book {
	return presence.Book{
		Contact: func(cid string) (presence.Contact, bool) {
			var out presence.Contact
			ok := false
			_ = m.st.View(func(tx *store.Tx) error {
				c, err := contacts.Get(tx, cid)
				if err == nil {
					out, ok = presenceContact(c), true
				}
				return nil
			})
			return out, ok
		},
		ContactAt: func(pid peer.ID) (presence.Contact, bool) {
			var out presence.Contact
			ok := false
			_ = m.st.View(func(tx *store.Tx) error {
				cid, err := contacts.ByPeer(tx, pid.String())
				if err != nil || cid == "" {
					return err
				}
				c, err := contacts.Get(tx, cid)
				if err == nil {
					out, ok = presenceContact(c), true
				}
				return err
			})
			return out, ok
		},
		Contacts: func() []presence.Contact {
			var out []presence.Contact
			_ = m.st.View(func(tx *store.Tx) error {
				return contacts.List(tx, func(c *contacts.Record) (bool, error) {
					out = append(out, presenceContact(c))
					return true, nil
				})
			})
			return out
		},
		InGroup: func(gid, uid string) bool {
			ok := false
			_ = m.st.View(func(tx *store.Tx) error {
				g, err := groups.Load(tx, gid)
				ok = err == nil && g.Me && g.Member(uid) != nil
				return nil
			})
			return ok
		},
		Recipients: m.typingPeers,
	}
}

// typingPeers are the peers a typing signal in conversation convID goes to
// (presence.Book.Recipients).
func (m *Messenger) typingPeers(convID string) ([]presence.Peer, error) {
	var out []presence.Peer
	err := m.st.View(func(tx *store.Tx) error {
		conv, err := history.GetConversation(tx, convID)
		if err != nil {
			return err
		}
		if conv.Type == api.ConversationGroup {
			g, err := groups.Load(tx, convID)
			if err != nil {
				return err
			}
			if !g.Me {
				return api.Errorf(api.ErrForbidden, "you are not a member of this group")
			}
			for _, mb := range g.Members {
				if mb.UserID == m.uid {
					continue
				}
				if pid, err := peer.Decode(mb.PeerID); err == nil {
					out = append(out, presence.Peer{ID: pid})
				}
			}
			return nil
		}
		c, err := contacts.Get(tx, conv.ContactID)
		if err != nil {
			return err
		}
		if pid, err := peer.Decode(c.PeerID); err == nil && !c.Blocked {
			out = append(out, presence.Peer{ID: pid, Addrs: c.Addrs})
		}
		return nil
	})
	return out, err
}

// presenceHidden reports whether our setting is presence: nobody (presence.Config.Hidden).
func (m *Messenger) presenceHidden() bool {
	hidden := false
	_ = m.st.View(func(tx *store.Tx) error {
		s, err := m.settings(tx)
		hidden = err == nil && s.Presence == api.PresenceNobody
		return nil
	})
	return hidden
}
