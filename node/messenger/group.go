package messenger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"

	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/receipts"
	"github.com/petrel-chat/petrel/node/sessions"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/expiry"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/groups/members"
	"github.com/petrel-chat/petrel/node/inbox"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Groups are node/groups's: this file holds the API's group calls, each one transaction
// around it, and what it asks of the pairwise side and the history (groups.Pairwise,
// groups.History).

// newGroups makes the group engine, wired to this messenger's store, contacts and history.
func (m *Messenger) newGroups() (*groups.Service, error) {
	var link groups.RelayLink
	if m.cfg.RelayLink != nil {
		link = m.cfg.RelayLink
	}
	return groups.New(groups.Config{
		Store: m.st, Identity: m.id, Account: m.acct, Logger: m.log, Clock: m.clock, Now: m.now,
		SaveClock: func(tx *store.Tx, ts string) error { return tx.Set(kClock, []byte(ts)) },
		Profile:   m.cfg.Profile,
		Card:      m.card,
		RelayLink: link,
		Pairwise:  func(tx *store.Tx) groups.Pairwise { return m.groupPairwise(tx, txContacts{}) },
		History: groups.History{
			SaveReceived:     m.groupSaveReceived,
			Attachments:      m.groupAttachments,
			ApplyControl:     m.groupApplyControl,
			UpdateMessage:    m.groupUpdateMessage,
			OpenConversation: m.groupOpenConversation,
			EmitConversation: m.emitConv,
			Disappear:        m.groupDisappear, // expiry.go
			SealSent: func(tx *store.Tx, k []byte, ct *wire.Content, env []byte) ([]byte, error) {
				return outq.SealCopy(tx, m.outSealer(), k, ct, env)
			},
			OpenSent: func(k, v []byte) ([]byte, bool) { return outq.OpenCopy(m.outSealer(), k, v) },
		},
		Options: m.cfg.Groups,
	})
}

// groupConv runs change in one transaction and returns the group's conversation after it.
func (m *Messenger) groupConv(ctx context.Context, change func(tx *store.Tx) (string, error)) (api.Conversation, error) {
	var out api.Conversation
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		gid, err := change(tx)
		if err != nil {
			return err
		}
		out, err = m.apiConv(tx, gid)
		return err
	})
	return out, err
}

// CreateGroup creates a group of the user and some contacts, with the user as its admin.
func (m *Messenger) CreateGroup(ctx context.Context, name string, members []string) (api.Conversation, error) {
	return m.groupConv(ctx, func(tx *store.Tx) (string, error) { return m.groups.Create(tx, name, members) })
}

// ChangeMembers adds and removes members (admins only).
func (m *Messenger) ChangeMembers(ctx context.Context, gid string, add, remove []string) (api.Conversation, error) {
	return m.groupConv(ctx, func(tx *store.Tx) (string, error) { return gid, m.groups.ChangeMembers(tx, gid, add, remove) })
}

// LeaveGroup leaves a group.
func (m *Messenger) LeaveGroup(ctx context.Context, gid string) (api.Conversation, error) {
	return m.groupConv(ctx, func(tx *store.Tx) (string, error) { return gid, m.groups.Leave(tx, gid) })
}

// RenameGroup renames a group (admins only).
func (m *Messenger) RenameGroup(ctx context.Context, gid, name string) (api.Conversation, error) {
	return m.groupConv(ctx, func(tx *store.Tx) (string, error) { return gid, m.groups.Rename(tx, gid, name) })
}

// SetRole makes members admins or plain members (admins only; an extension).
func (m *Messenger) SetRole(ctx context.Context, gid string, users []string, role string) (api.Conversation, error) {
	return m.groupConv(ctx, func(tx *store.Tx) (string, error) { return gid, m.groups.SetRole(tx, gid, users, role) })
}

// GroupChanges lists the changes that made a group what it is (groups.Changes; docs/API.md,
// extension GET /v1/conversations/{id}/changes). A direct conversation has none.
func (m *Messenger) GroupChanges(ctx context.Context, convID string) ([]api.GroupChange, error) {
	out := []api.GroupChange{}
	err := m.st.View(func(tx *store.Tx) error {
		cv, err := history.GetConversation(tx, convID)
		if err != nil {
			return err
		}
		if cv.Type != api.ConversationGroup {
			return nil
		}
		out, err = groups.Changes(tx, convID)
		return err
	})
	return out, err
}

// MessageReceipts says, for one of our own group messages, how far each member got: a
// receipt per member of the group (docs/API.md, extension GET /v1/messages/{id}/receipts).
// For a direct message it is the contact's status.
func (m *Messenger) MessageReceipts(ctx context.Context, msgID string) ([]api.MemberReceipt, error) {
	out := []api.MemberReceipt{}
	err := m.st.View(func(tx *store.Tx) error {
		r, err := history.LoadItem(tx, m.sealer(), msgID)
		if err != nil {
			return err
		}
		if r.M.SenderID != m.uid {
			return api.Errorf(api.ErrBadRequest, "receipts are kept for your own messages only")
		}
		conv, err := m.apiConv(tx, r.M.ConversationID)
		if err != nil {
			return err
		}
		if conv.Type != api.ConversationGroup {
			for _, mb := range conv.Members {
				if mb.UserID != m.uid {
					rc, err := receipts.Of(tx, msgID, mb.UserID)
					if err != nil {
						return err
					}
					out = append(out, withTimes(api.MemberReceipt{UserID: mb.UserID, Name: mb.Name, Status: r.M.Status}, rc))
				}
			}
			return nil
		}
		seen := map[string]bool{}
		add := func(uid, name string, rc receipts.Receipt) {
			seen[uid] = true
			st := api.StatusSent
			switch rc.Level {
			case 1:
				st = api.StatusDelivered
			case 2:
				st = api.StatusRead
			}
			out = append(out, withTimes(api.MemberReceipt{UserID: uid, Name: name, Status: st}, rc))
		}
		for _, mb := range conv.Members {
			if mb.UserID == m.uid {
				continue
			}
			rc, err := receipts.Of(tx, msgID, mb.UserID)
			if err != nil {
				return err
			}
			add(mb.UserID, mb.Name, rc)
		}
		// Members who acknowledged it and have left since.
		return receipts.Each(tx, msgID, func(uid string, rc receipts.Receipt) {
			if !seen[uid] {
				add(uid, "", rc)
			}
		})
	})
	return out, err
}

// withTimes adds a receipt's times (null when not known: not yet, or kept before times
// were) to mr.
func withTimes(mr api.MemberReceipt, rc receipts.Receipt) api.MemberReceipt {
	if rc.DeliveredAt != 0 {
		mr.DeliveredAt = &rc.DeliveredAt
	}
	if rc.ReadAt != 0 {
		mr.ReadAt = &rc.ReadAt
	}
	return mr
}

// GroupDepositsPending is how many multi deposits wait to be made (for tests and status).
func (m *Messenger) GroupDepositsPending() int { return m.groups.DepositsPending() }

// sendGroup is Send for a group conversation (send.go).
func (m *Messenger) sendGroup(tx *store.Tx, conv *history.Conversation, req api.SendRequest, mediaIDs []string, rawAtts []json.RawMessage) (api.Message, error) {
	var replyTo *string
	if req.ReplyTo != nil && *req.ReplyTo != "" {
		r, err := history.LoadItem(tx, m.sealer(), *req.ReplyTo)
		if err != nil || r.M.ConversationID != conv.ID {
			return api.Message{}, api.Errorf(api.ErrBadRequest, "reply_to is not a message of this conversation")
		}
		replyTo = req.ReplyTo
	}
	return m.sendGroupTx(tx, conv, req, replyTo, mediaIDs, rawAtts)
}

// sendGroupTx stores a message to a group, encrypts it once with our sender key (the
// advanced chain saved in the same transaction) and publishes it once committed.
func (m *Messenger) sendGroupTx(tx *store.Tx, conv *history.Conversation, req api.SendRequest, replyTo *string, mediaIDs []string, rawAtts []json.RawMessage) (api.Message, error) {
	gid := conv.ID
	ts := m.clock.Now()
	id := api.NewID("m")
	atts, err := m.att.Sent(tx, id, mediaIDs)
	if err != nil {
		return api.Message{}, err
	}
	content := &wire.Content{Kind: wire.KindText, ID: id, TS: ts.String(), Body: req.Body, Expire: uint32(conv.Disappear), Attachments: rawAtts}
	if replyTo != nil {
		content.ReplyTo = *replyTo
	}
	env, members, err := m.groups.Seal(tx, gid, content)
	if err != nil {
		return api.Message{}, err
	}
	msg := api.Message{
		ID: id, ConversationID: gid, ClientMsgID: req.ClientMsgID, SenderID: m.uid,
		Body: req.Body, ReplyTo: replyTo, Attachments: atts,
		SentAt: ts.Wall, ReceivedAt: ts.Wall, Order: hlc.OrderKey(ts, m.uid+"-"+id),
		Status: api.StatusPending, Receipts: api.Receipts{Total: members - 1}, Reactions: map[string][]string{},
	}
	expiry.Start(&msg, conv.Disappear, ts.Wall)
	if err := m.putMsg(tx, &history.Item{M: msg}, true); err != nil {
		return api.Message{}, err
	}
	if err := tx.Set(history.KeyClient(gid, req.ClientMsgID), []byte(id)); err != nil {
		return api.Message{}, err
	}
	conv.LastMsgID, conv.UpdatedAt = id, ts.Wall
	if err := history.PutConversation(tx, conv); err != nil {
		return api.Message{}, err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return api.Message{}, err
	}
	if err := m.emitConv(tx, conv.ID); err != nil {
		return api.Message{}, err
	}
	tx.OnCommit(func() { m.groups.Publish(gid, id, env) })
	return msg, nil
}

// sendGroupControl sends an edit, delete or reaction to the group.
func (m *Messenger) sendGroupControl(tx *store.Tx, gid string, content *wire.Content) error {
	return m.groups.SendControl(tx, gid, content)
}

// groupReadReceipts tells each sender which of their group messages the user read.
func (m *Messenger) groupReadReceipts(tx *store.Tx, gid string, newly []*history.Item) error {
	by := map[string][]string{}
	for _, r := range newly {
		by[r.M.SenderID] = append(by[r.M.SenderID], r.M.ID)
	}
	return m.groups.ReadReceipts(tx, gid, by)
}

// apiGroupConv is a group conversation for the API.
func (m *Messenger) apiGroupConv(tx *store.Tx, cv *history.Conversation) (api.Conversation, error) {
	g, err := groups.Load(tx, cv.ID)
	if err != nil {
		return api.Conversation{}, err
	}
	out := api.Conversation{ID: cv.ID, Type: api.ConversationGroup, Name: g.Name, UnreadCount: cv.Unread, UpdatedAt: cv.UpdatedAt, Members: []api.Member{}, DisappearAfterS: cv.Disappear}
	if g.Me {
		for _, mb := range g.Members {
			name := mb.Name
			if mb.UserID == m.uid {
				name = m.cfg.Profile()
			} else if cid, _ := store.GetString(tx, contacts.KeyByUser(mb.UserID)); cid != "" {
				if c, err := sessions.LoadContact(tx, cid); err == nil && c.NameSet {
					name = c.Name
				}
			}
			out.Members = append(out.Members, api.Member{UserID: mb.UserID, Name: name, Role: mb.Role})
		}
	}
	if cv.LastMsgID != "" {
		if r, err := history.LoadItem(tx, m.sealer(), cv.LastMsgID); err == nil {
			out.LastMessage = &r.M
		}
	}
	return m.withMute(tx, out)
}

// groupSaveReceived is groups.History.SaveReceived: a member's new group message, stored
// and counted in its conversation.
func (m *Messenger) groupSaveReceived(tx *store.Tx, msg api.Message) (bool, error) {
	if _, err := tx.Get(history.KeyMsg(msg.ID)); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	gid := msg.ConversationID
	conv, err := history.GetConversation(tx, gid)
	if err != nil {
		return false, err
	}
	in := msg.SenderID != m.uid                              // ours when another of our devices sent it
	if m.expiredOnArrival(msg.SentAt, msg.DisappearAfterS) { // expiry.go
		return false, m.putTombstone(tx, &history.Item{M: msg, Incoming: in})
	}
	if err := m.putMsg(tx, &history.Item{M: msg, Incoming: in}, true); err != nil {
		return false, err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return false, err
	}
	last := ""
	if conv.LastMsgID != "" {
		if r, err := history.LoadItem(tx, m.sealer(), conv.LastMsgID); err == nil {
			last = r.M.Order
		}
	}
	if msg.Order > last {
		conv.LastMsgID = msg.ID
	}
	conv.UpdatedAt = max(conv.UpdatedAt, msg.ReceivedAt)
	if in && msg.Order > conv.ReadUpTo {
		conv.Unread++
	}
	return true, history.PutConversation(tx, conv)
}

// groupApplyControl is groups.History.ApplyControl: a member's edit, delete or reaction
// to a message of the group.
func (m *Messenger) groupApplyControl(tx *store.Tx, gid, uid string, ct *wire.Content, ts hlc.Timestamp) error {
	if ct.Kind == wire.KindDisappear {
		return m.rxGroupDisappear(tx, gid, uid, ct, ts) // expiry.go
	}
	r, err := history.LoadItem(tx, m.sealer(), ct.Target)
	if errors.Is(err, api.ErrNotFound) {
		return nil
	}
	if err != nil || r.M.ConversationID != gid || r.M.Deleted {
		return err
	}
	switch ct.Kind {
	case wire.KindEdit:
		if r.M.SenderID != uid || ct.TS <= r.EditTS {
			return nil
		}
		r.M.Body, r.EditTS = ct.Body, ct.TS
		at := ts.Wall
		r.M.EditedAt = &at
	case wire.KindDelete:
		if r.M.SenderID != uid {
			return nil
		}
		return m.markDeleted(tx, r)
	case wire.KindReaction:
		if !applyReaction(r, uid, ct.Emoji, !ct.Remove, ct.TS) {
			return nil
		}
	}
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindMessageUpdate, r.M)
	return err
}

// groupUpdateMessage is groups.History.UpdateMessage.
func (m *Messenger) groupUpdateMessage(tx *store.Tx, id string, change func(*api.Message) (bool, error)) error {
	r, err := history.LoadItem(tx, m.sealer(), id)
	if err != nil {
		return err
	}
	if changed, err := change(&r.M); err != nil || !changed {
		return err
	}
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindMessageUpdate, r.M)
	return err
}

// groupOpenConversation is groups.History.OpenConversation.
func (m *Messenger) groupOpenConversation(tx *store.Tx, gid string) error {
	conv, err := history.GetConversation(tx, gid)
	if errors.Is(err, api.ErrNotFound) {
		conv, err = &history.Conversation{ID: gid, Type: api.ConversationGroup, UpdatedAt: m.nowMS()}, nil
	}
	if err != nil {
		return err
	}
	if err := history.PutConversation(tx, conv); err != nil {
		return err
	}
	return m.emitConv(tx, gid)
}

// txContacts caches contact records within one transaction, by channel, so that a
// channel enqueued to several times (or held by the inbound batch) is written from one copy.
type txContacts = members.Cache

// groupPairwise is groups.Pairwise over one transaction and its contact cache: what goes
// to a member goes to each of their active devices, and for our own user id to our own
// other devices (node/groups/members).
func (m *Messenger) groupPairwise(tx *store.Tx, cc txContacts) *members.Pairwise {
	return members.New(tx, cc, &members.Hooks{Account: m.uid, Enqueue: m.enqueue, ContactFor: m.contactFor, Self: m.dev.Self, Log: m.log})
}

// rxGroup applies a group content of the inbound batch's channel: a contact's device, or
// one of our own (from is then our own user id).
func (m *Messenger) rxGroup(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
	c := b.Contact()
	from, dev := c.UserID, members.DeviceOf(c)
	if c.Own() {
		from = m.uid
	}
	if dev == "" {
		return nil
	}
	return m.groups.ApplyFrom(b.Tx(), m.groupPairwise(b.Tx(), txContacts{c.Ch(): c}), from, dev, ct)
}

// groupAttachments is groups.History.Attachments: member uid's attachments, fetched from
// their node or their home relays (their contact record, else their member card).
func (m *Messenger) groupAttachments(tx *store.Tx, gid, msgID, uid string, raws []json.RawMessage) []api.Attachment {
	if _, err := tx.Get(history.KeyMsg(msgID)); err == nil {
		return []api.Attachment{} // a duplicate: SaveReceived drops it
	}
	var pid string
	var relays []string
	if cid, _ := store.GetString(tx, contacts.KeyByUser(uid)); cid != "" {
		if c, err := sessions.LoadContact(tx, cid); err == nil {
			pid, relays = c.PeerID, c.Relays
		}
	}
	if g, err := groups.Load(tx, gid); err == nil {
		for _, mb := range g.Members {
			if mb.UserID == uid {
				pid = cmp.Or(pid, mb.PeerID)
				if len(relays) == 0 {
					relays = mb.Relays
				}
			}
		}
	}
	return m.att.Received(tx, msgID, pid, relays, raws)
}
