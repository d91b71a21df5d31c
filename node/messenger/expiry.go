package messenger

import (
	"context"
	"errors"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/expiry"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Disappearing messages (docs/API.md §9) are node/expiry; this file is the messenger's
// side of it: the API's SetDisappear, the timer changes members send, and what the
// expiry loop asks of the history (expireMessage).

// timersConfig wires node/expiry to the messenger.
func (m *Messenger) timersConfig() expiry.Config {
	return expiry.Config{
		Store: m.st, Now: m.now, Logger: m.log,
		NewID: func() string { return api.NewID("m") },
		SaveLine: func(tx *store.Tx, line api.Message, contactID string) error {
			if err := m.putMsg(tx, &history.Item{M: line, ContactID: contactID}, true); err != nil {
				return err
			}
			_, err := m.ev.Append(tx, api.KindMessage, line)
			return err
		},
		EmitConv: m.emitConv,
		Expire:   m.expireMessage,
	}
}

// startReadTimer starts the timer of incoming message r, just read on this node.
func (m *Messenger) startReadTimer(_ *store.Tx, r *history.Item) error {
	expiry.StartRead(&r.M, m.nowMS())
	return nil
}

// expiredOnArrival reports whether a message sent at sentAt under a timer of secs had
// expired before it arrived.
func (m *Messenger) expiredOnArrival(sentAt, secs int64) bool {
	return expiry.ExpiredOnArrival(m.nowMS(), sentAt, secs)
}

// putTombstone stores r as an expired message: no body, no index entry, no event. It is
// kept (with its id) so that a resend of it is recognised and dropped.
func (m *Messenger) putTombstone(tx *store.Tx, r *history.Item) error {
	if err := m.expireMedia(tx, r.M.ID, media.IDsOf(r.M.Attachments)); err != nil {
		return err
	}
	wipe(r)
	return m.putMsg(tx, r, false)
}

// wipe empties every content field of r.
func wipe(r *history.Item) {
	expiry.Wipe(&r.M)
	r.ReactTS, r.EditTS = nil, ""
}

// SetDisappear sets conversation convID's disappearing-message timer to secs (0: off;
// else 5 s to 90 days): any member of a direct chat, a group's admins. The change shows
// as a system line and a conversation event here and on every member's node, and applies
// to messages sent after it.
func (m *Messenger) SetDisappear(ctx context.Context, convID string, secs int64) (api.Conversation, error) {
	if err := expiry.Check(secs); err != nil {
		return api.Conversation{}, err
	}
	var out api.Conversation
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		conv, err := history.GetConversation(tx, convID)
		if err != nil {
			return err
		}
		var c *sessions.Contact
		if conv.Type == api.ConversationGroup {
			g, err := groups.Load(tx, convID)
			if err != nil {
				return err
			}
			me := g.Member(m.uid)
			if !g.Me || me == nil {
				return api.Errorf(api.ErrForbidden, "you are not a member of this group")
			}
			if me.Role != api.RoleAdmin {
				return api.Errorf(api.ErrForbidden, "only the group's admins may set its disappearing-message timer")
			}
		} else if c, err = sessions.LoadContact(tx, conv.ContactID); err != nil {
			return err
		}
		switch {
		case conv.Disappear == secs:
		case c == nil:
			// A signed operation in the group's log (groups.SetDisappear), applied here
			// through groupDisappear as on every member's node; and, for members whose
			// nodes predate it, the old group control with the same timestamp (nodes of
			// this version ignore it).
			tss, err := m.groups.SetDisappear(tx, convID, secs)
			if err != nil {
				return err
			}
			ct := &wire.Content{Kind: wire.KindDisappear, TS: tss, Expire: uint32(secs)}
			if err := m.sendGroupControl(tx, convID, ct); err != nil {
				return err
			}
		default:
			ts := m.clock.Now()
			if err := m.timers.Apply(tx, conv, m.uid, m.cfg.Profile(), secs, ts, false); err != nil {
				return err
			}
			ct := &wire.Content{Kind: wire.KindDisappear, TS: ts.String(), Expire: uint32(secs)}
			if err := m.enqueue(tx, c, ct, ""); err != nil {
				return err
			}
		}
		out, err = m.apiConv(tx, convID)
		return err
	})
	return out, err
}

// rxDisappear applies a contact's change of the direct chat's timer.
func (m *Messenger) rxDisappear(b *inbox.Batch, ct *wire.Content, ts hlc.Timestamp) error {
	conv, c := b.Conversation(), b.Contact()
	if conv == nil || conv.Type != api.ConversationDirect {
		return nil
	}
	b.ConversationChanged()
	return m.timers.Apply(b.Tx(), conv, c.UserID, c.Name, int64(ct.Expire), ts, true)
}

// rxGroupDisappear is a group timer sent as a group control, as nodes before the signed
// operation sent it: ignored (logged). A group's timer is what its signed log says
// (groupDisappear); a control is checked only against our state of the group, so it is
// not believed. Nodes of this version send both, with the same timestamp.
func (m *Messenger) rxGroupDisappear(_ *store.Tx, gid, uid string, ct *wire.Content, _ hlc.Timestamp) error {
	m.log.Info("a group's disappearing-message timer sent as a control (a node of an older version) ignored: the timer is a signed group operation",
		"group", gid, "from", uid, "timer_s", ct.Expire)
	return nil
}

// groupDisappear is groups.History.Disappear: group gid's signed log sets its timer to
// secs, by member uid at ts (an admin when the operation was folded).
func (m *Messenger) groupDisappear(tx *store.Tx, gid, uid string, secs int64, ts hlc.Timestamp) error {
	conv, err := history.GetConversation(tx, gid)
	if err != nil {
		return err
	}
	if uid == m.uid {
		return m.timers.Apply(tx, conv, uid, m.cfg.Profile(), secs, ts, false)
	}
	name := ""
	if g, err := groups.Load(tx, gid); err == nil {
		if mb := g.Member(uid); mb != nil {
			name = mb.Name
		}
	}
	if cid, _ := store.GetString(tx, contacts.KeyByUser(uid)); cid != "" {
		if c, err := sessions.LoadContact(tx, cid); err == nil && c.NameSet {
			name = c.Name
		}
	}
	return m.timers.Apply(tx, conv, uid, name, secs, ts, true)
}

// expireMessage deletes message id at its expiry (expiry.Config.Expire): its content
// (body, edits, reactions, attachments and their media), its history and client-id index
// entries, and reports it with a message_update whose deleted is true.
func (m *Messenger) expireMessage(tx *store.Tx, id string) error {
	r, err := history.LoadItem(tx, m.sealer(), id)
	if errors.Is(err, api.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	mids, err := history.MessageMedia(tx, m.sealer(), id)
	if err != nil {
		return err
	}
	if err := m.expireMedia(tx, id, mids); err != nil {
		return err
	}
	if err := tx.Delete(history.KeyOrder(r.M.ConversationID, r.M.Order)); err != nil {
		return err
	}
	if r.M.ClientMsgID != "" {
		if err := tx.Delete(history.KeyClient(r.M.ConversationID, r.M.ClientMsgID)); err != nil {
			return err
		}
	}
	wipe(r)
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
		return err
	}
	return m.fixLast(tx, r.M.ConversationID, r.M.ID)
}

// mediaTimer tells the media store the timer of message msg (media.Store.MessageTimer),
// with every write of a message; expireMedia deletes expired message id's media no other
// message uses (media.Store.ExpireMessage). A node without media has no references.
func (m *Messenger) mediaTimer(tx *store.Tx, msg *api.Message) error {
	if m.cfg.Media == nil {
		return nil
	}
	return m.cfg.Media.MessageTimer(tx, msg)
}

func (m *Messenger) expireMedia(tx *store.Tx, id string, mids []string) error {
	if m.cfg.Media == nil {
		return nil
	}
	return m.cfg.Media.ExpireMessage(tx, id, mids)
}
