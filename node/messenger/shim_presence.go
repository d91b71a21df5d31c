package messenger

import (
	"context"
	"encoding/json"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/presence"
	"github.com/petrel-chat/petrel/node/store"
)

// Presence and typing live in node/presence. These keep the messenger's callers as they
// were and answer what presence asks of contacts and groups (presence.Book).

// PresenceOptions tune presence and typing (presence.Options).
type PresenceOptions = presence.Options

// liveService is the presence service under the names the messenger's callers use.
type liveService struct{ *presence.Service }

func (l *liveService) lastSeen(cid string) *int64             { return l.LastSeen(cid) }
func (l *liveService) setHidden(hidden bool)                  { l.SetHidden(hidden) }
func (l *liveService) onlineFrames() [][]byte                 { return l.OnlineFrames() }
func (l *liveService) start(ctx context.Context, h host.Host) { l.Start(ctx, h) }
func (l *liveService) wait()                                  { l.Wait() }

// presenceContact is what presence knows of contact c.
func presenceContact(c *contactRec) presence.Contact {
	pid, _ := peerOf(c)
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
				c, err := loadContact(tx, cid)
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
				cid, err := getString(tx, kContactByPeer(pid.String()))
				if err != nil || cid == "" {
					return err
				}
				c, err := loadContact(tx, cid)
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
				return tx.Iterate(store.IterOptions{Prefix: []byte("ct/")}, func(_, v []byte) (bool, error) {
					var c contactRec
					if err := json.Unmarshal(v, &c); err != nil {
						return false, err
					}
					out = append(out, presenceContact(&c))
					return true, nil
				})
			})
			return out
		},
		InGroup: func(gid, uid string) bool {
			ok := false
			_ = m.st.View(func(tx *store.Tx) error {
				g, err := loadGroup(tx, gid)
				ok = err == nil && g.Me && g.member(uid) != nil
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
		conv, err := loadConv(tx, convID)
		if err != nil {
			return err
		}
		if conv.Type == api.ConversationGroup {
			g, err := loadGroup(tx, convID)
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
		c, err := loadContact(tx, conv.ContactID)
		if err != nil {
			return err
		}
		if pid, err := peerOf(c); err == nil && !c.Blocked {
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
