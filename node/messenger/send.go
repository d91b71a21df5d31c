package messenger

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/expiry"
	"github.com/petrel-chat/petrel/node/history"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/settings"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// card is what we tell a contact about ourselves until they have answered.
func (m *Messenger) card() *wire.Card {
	c := &wire.Card{Name: m.cfg.Profile(), Addrs: []string{}, Relays: append([]string{}, m.cfg.Relays[:min(len(m.cfg.Relays), wire.MaxAddrs)]...)}
	if h := m.hostOrNil(); h != nil {
		c.PeerID = h.ID().String()
		for _, a := range h.Addrs() {
			if len(c.Addrs) < wire.MaxAddrs {
				c.Addrs = append(c.Addrs, a.String())
			}
		}
	}
	if len(c.Name) > wire.MaxName {
		c.Name = c.Name[:wire.MaxName]
	}
	if c.PeerID == "" {
		return nil
	}
	return c
}

// enqueue assigns content the contact's next sequence number, stores it in the outbox (and
// the resend history) and schedules delivery once the transaction commits. c is saved. The
// outbox worker encrypts the content when it sends it.
func (m *Messenger) enqueue(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error {
	_, err := m.enqueueWith(tx, c, content, msgID, nil)
	return err
}

// enqueueWith is enqueue that also encrypts the content at once with s0, the contact's
// current session as the caller holds it (the caller saves s0 after), when the outbox's
// ratchet order allows it (outbox.Enqueue). s0 nil means enqueue. It reports whether it
// used s0.
func (m *Messenger) enqueueWith(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string, s0 *ratchet.State) (sealed bool, err error) {
	if content.TS == "" {
		content.TS = m.clock.Now().String()
	}
	if content.ID == "" {
		content.ID = api.NewID("x")
	}
	if !c.Answered {
		content.Card = m.card()
		if content.Card != nil {
			content.Card.Invite = c.Invite // the invite we added them by (invites.go)
			// Our account's signed device list, so a device of ours is never a stranger.
			if content.Card.Devices, err = devices.OwnRaw(tx); err != nil {
				return false, err
			}
		}
	}
	oc := outboxContact(c)
	oc.Sealer = m.outSealer()
	if sealed, err = outq.Enqueue(tx, &oc, content, msgID, m.nowMS(), s0); err != nil {
		return false, err
	}
	c.SendSeq, c.OutSeq = oc.SendSeq, oc.OutSeq
	if err := tx.Set(kClock, []byte(content.TS)); err != nil {
		return false, err
	}
	cid := c.Ch()
	tx.OnCommit(func() { m.kick(cid) })
	return sealed, sessions.SaveContact(tx, c)
}

// Send stores a message and queues it for delivery. repeat is true when client_msg_id was
// already used in this conversation: the original message is returned and nothing is sent.
func (m *Messenger) Send(ctx context.Context, req api.SendRequest) (api.Message, bool, error) {
	switch {
	case !wire.ValidID(req.ClientMsgID):
		return api.Message{}, false, api.Errorf(api.ErrBadRequest, "client_msg_id must be 1 to 64 characters of [0-9A-Za-z_-]")
	case !utf8.ValidString(req.Body):
		return api.Message{}, false, api.Errorf(api.ErrBadRequest, "body must be valid UTF-8")
	case len(req.Body) > wire.MaxBody:
		return api.Message{}, false, api.Errorf(api.ErrTooLarge, "body is over %d bytes", wire.MaxBody)
	case strings.TrimSpace(req.Body) == "" && len(req.Attachments) == 0:
		return api.Message{}, false, api.Errorf(api.ErrBadRequest, "body is empty")
	}
	mediaIDs, rawAtts, err := m.att.Resolve(req.Attachments)
	if err != nil {
		return api.Message{}, false, err
	}
	var out api.Message
	var repeat bool
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		repeat = false
		if id, err := store.GetString(tx, history.KeyClient(req.ConversationID, req.ClientMsgID)); err != nil {
			return err
		} else if id != "" {
			r, err := history.LoadItem(tx, m.sealer(), id)
			if err != nil {
				return err
			}
			out, repeat = r.M, true
			return nil
		}
		if err := m.dev.RefuseRevoked(tx); err != nil { // a revoked device sends nothing (node/devicesync)
			return err
		}
		conv, err := history.GetConversation(tx, req.ConversationID)
		if err != nil {
			return err
		}
		if conv.Type == api.ConversationGroup {
			out, err = m.sendGroup(tx, conv, req, mediaIDs, rawAtts)
			return err
		}
		c, err := sessions.LoadContact(tx, conv.ContactID)
		if err != nil {
			return err
		}
		if c.Blocked {
			return api.Errorf(api.ErrForbidden, "you blocked this contact; unblock them to send")
		}
		var replyTo *string
		if req.ReplyTo != nil && *req.ReplyTo != "" {
			r, err := history.LoadItem(tx, m.sealer(), *req.ReplyTo)
			if err != nil || r.M.ConversationID != conv.ID {
				return api.Errorf(api.ErrBadRequest, "reply_to is not a message of this conversation")
			}
			replyTo = req.ReplyTo
		}
		if c.Request == api.RequestPending {
			c.Request = api.RequestAccepted // answering a message request accepts it
			if _, err := m.ev.Append(tx, api.KindContact, m.apiContact(c)); err != nil {
				return err
			}
			if err := m.dev.SyncContact(tx, c); err != nil { // our other devices (node/devicesync)
				return err
			}
		}
		ts := m.clock.Now()
		id := api.NewID("m")
		atts, err := m.att.Sent(tx, id, mediaIDs)
		if err != nil {
			return err
		}
		msg := api.Message{
			ID: id, ConversationID: conv.ID, ClientMsgID: req.ClientMsgID, SenderID: m.uid,
			Body: req.Body, ReplyTo: replyTo, Attachments: atts,
			SentAt: ts.Wall, ReceivedAt: ts.Wall, Order: hlc.OrderKey(ts, m.uid+"-"+id),
			Status: api.StatusPending, Receipts: api.Receipts{Total: 1}, Reactions: map[string][]string{},
		}
		expiry.Start(&msg, conv.Disappear, ts.Wall)
		rec := &history.Item{M: msg, ContactID: c.ID}
		if err := m.putMsg(tx, rec, true); err != nil {
			return err
		}
		if err := tx.Set(history.KeyClient(conv.ID, req.ClientMsgID), []byte(id)); err != nil {
			return err
		}
		conv.LastMsgID, conv.UpdatedAt = id, ts.Wall
		if err := history.PutConversation(tx, conv); err != nil {
			return err
		}
		if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
			return err
		}
		// The conversation as apiConvRec would read it back: built from what is in hand.
		cv, err := m.apiDirectConv(tx, conv, c, &msg)
		if err != nil {
			return err
		}
		if _, err := m.ev.Append(tx, api.KindConversation, cv); err != nil {
			return err
		}
		content := &wire.Content{Kind: wire.KindText, ID: id, TS: ts.String(), Body: req.Body, Expire: uint32(conv.Disappear), Attachments: rawAtts}
		if replyTo != nil {
			content.ReplyTo = *replyTo
		}
		out = msg
		// One encryption per device of the contact, and the copy for our own (node/devicesync).
		return m.dev.SendDirect(tx, c, content, id)
	})
	return out, repeat, err
}

// putMsg saves a message record, and its history index when index is true.
func (m *Messenger) putMsg(tx *store.Tx, r *history.Item, index bool) error {
	if err := m.timers.Index(tx, &r.M); err != nil { // node/expiry
		return err
	}
	if err := m.mediaTimer(tx, &r.M); err != nil { // expiry.go
		return err
	}
	if index {
		if err := tx.Set(history.KeyOrder(r.M.ConversationID, r.M.Order), []byte(r.M.ID)); err != nil {
			return err
		}
	}
	return history.PutItem(tx, m.sealer(), r)
}

// setStatus moves a message's status forward (failed is final) and reports it.
func (m *Messenger) setStatus(tx *store.Tx, id, status, reason string) error {
	r, err := history.LoadItem(tx, m.sealer(), id)
	if err != nil {
		return err
	}
	return m.setStatusRec(tx, r, status, reason)
}

// setStatusRec is setStatus on a message record just loaded from tx (history.AdvanceStatus).
func (m *Messenger) setStatusRec(tx *store.Tx, r *history.Item, status, reason string) error {
	if !history.AdvanceStatus(r, status, reason) {
		return nil
	}
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	_, err := m.ev.Append(tx, api.KindMessageUpdate, r.M)
	return err
}

// emitConv reports a conversation's current state.
func (m *Messenger) emitConv(tx *store.Tx, id string) error {
	conv, err := m.apiConv(tx, id)
	if err != nil {
		return err
	}
	_, err = m.ev.Append(tx, api.KindConversation, conv)
	return err
}

func (m *Messenger) apiConv(tx *store.Tx, id string) (api.Conversation, error) {
	cv, err := history.GetConversation(tx, id)
	if err != nil {
		return api.Conversation{}, err
	}
	return m.apiConvRec(tx, cv)
}

func (m *Messenger) apiConvRec(tx *store.Tx, cv *history.Conversation) (api.Conversation, error) {
	if cv.Type == api.ConversationGroup {
		return m.apiGroupConv(tx, cv)
	}
	c, err := sessions.LoadContact(tx, cv.ContactID)
	if err != nil {
		return api.Conversation{}, err
	}
	var last *api.Message
	if cv.LastMsgID != "" {
		r, err := history.LoadItem(tx, m.sealer(), cv.LastMsgID)
		if err == nil {
			last = &r.M
		}
	}
	return m.apiDirectConv(tx, cv, c, last)
}

// apiDirectConv is a direct conversation with contact c whose last message is last (nil:
// none, or not found).
func (m *Messenger) apiDirectConv(tx *store.Tx, cv *history.Conversation, c *sessions.Contact, last *api.Message) (api.Conversation, error) {
	return m.withMute(tx, api.Conversation{
		ID: cv.ID, Type: cv.Type, Name: c.Name, UnreadCount: cv.Unread, UpdatedAt: cv.UpdatedAt,
		Members: []api.Member{
			{UserID: m.uid, Name: m.cfg.Profile(), Role: api.RoleMember},
			{UserID: c.UserID, Name: c.Name, Role: api.RoleMember},
		},
		LastMessage: last, DisappearAfterS: cv.Disappear,
	})
}

// MarkRead marks the conversation read up to and including message upTo, and sends read
// receipts for the newly read messages if the settings allow.
func (m *Messenger) MarkRead(ctx context.Context, convID, upTo string) error {
	return m.st.Update(ctx, func(tx *store.Tx) error { return m.markRead(tx, convID, upTo, true) })
}

// markRead is MarkRead in tx; mine is false for a read mark one of our other devices made
// (node/devicesync), which sends no receipts and no sync of its own.
func (m *Messenger) markRead(tx *store.Tx, convID, upTo string, mine bool) error {
	conv, newly, changed, err := history.ReadUpTo(tx, m.sealer(), convID, upTo)
	if err != nil {
		return err
	}
	var ids []string
	for _, r := range newly {
		if err := m.startReadTimer(tx, r); err != nil { // expiry.go
			return err
		}
		if err := m.putMsg(tx, r, false); err != nil {
			return err
		}
		if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
			return err
		}
		ids = append(ids, r.M.ID)
	}
	if err := history.PutConversation(tx, conv); err != nil {
		return err
	}
	if changed {
		if err := m.emitConv(tx, conv.ID); err != nil {
			return err
		}
	}
	if !mine {
		return nil // the device that read sent the receipts
	}
	set, err := m.settings(tx)
	if err != nil {
		return err
	}
	if conv.Type == api.ConversationGroup {
		if !set.ReadReceipts {
			return nil
		}
		return m.groupReadReceipts(tx, conv.ID, newly)
	}
	c, err := sessions.LoadContact(tx, conv.ContactID)
	if err != nil {
		return err
	}
	if len(ids) > 0 && set.ReadReceipts && !c.Blocked && c.Request == api.RequestAccepted {
		for chunk := range slices.Chunk(ids, wire.MaxReceiptID) {
			// To each of the contact's devices: read counts once, on any.
			if err := m.dev.FanOut(tx, c, &wire.Content{Kind: wire.KindReceipt, Status: wire.ReceiptRead, IDs: chunk}, ""); err != nil {
				return err
			}
		}
	}
	// Our other devices mark the same read (node/devicesync).
	return m.dev.SyncOwn(tx, c.UserID, &wire.Content{Kind: wire.KindReceipt, ID: api.NewID("x"), TS: m.clock.Now().String(),
		Status: wire.ReceiptRead, IDs: []string{upTo}})
}

// ownMessage loads a message for an edit or delete by its sender.
func (m *Messenger) ownMessage(tx *store.Tx, id string) (*history.Item, *sessions.Contact, error) {
	r, err := history.LoadItem(tx, m.sealer(), id)
	if err != nil {
		return nil, nil, err
	}
	if r.M.SenderID != m.uid {
		return nil, nil, api.Errorf(api.ErrForbidden, "only the sender can change a message")
	}
	if r.M.Deleted {
		return nil, nil, api.Errorf(api.ErrConflict, "the message was deleted")
	}
	if r.ContactID == "" {
		return r, nil, nil // a group message: the caller sends to the group
	}
	c, err := sessions.LoadContact(tx, r.ContactID)
	return r, c, err
}

// Edit changes the body of one of our messages, here and on the contact's node.
func (m *Messenger) Edit(ctx context.Context, id, body string) (api.Message, error) {
	if !utf8.ValidString(body) || strings.TrimSpace(body) == "" {
		return api.Message{}, api.Errorf(api.ErrBadRequest, "body must be non-empty UTF-8")
	}
	if len(body) > wire.MaxBody {
		return api.Message{}, api.Errorf(api.ErrTooLarge, "body is over %d bytes", wire.MaxBody)
	}
	var out api.Message
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		if err := m.dev.RefuseRevoked(tx); err != nil { // a revoked device changes nothing for others
			return err
		}
		r, c, err := m.ownMessage(tx, id)
		if err != nil {
			return err
		}
		ts := m.clock.Now()
		r.M.Body, r.EditTS = body, ts.String()
		at := ts.Wall
		r.M.EditedAt = &at
		if err := m.putMsg(tx, r, false); err != nil {
			return err
		}
		if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
			return err
		}
		out = r.M
		content := &wire.Content{Kind: wire.KindEdit, TS: ts.String(), Target: id, Body: body, Expire: uint32(r.M.DisappearAfterS)} // its timer (outbox.ExpiryOf)
		if c == nil {
			return m.sendGroupControl(tx, r.M.ConversationID, content)
		}
		return m.dev.SendDirect(tx, c, content, "") // node/devicesync
	})
	return out, err
}

// Delete deletes a message: for everyone (our own messages: here and on the contact's
// node) or only here.
func (m *Messenger) Delete(ctx context.Context, id string, forEveryone bool) (api.Message, error) {
	var out api.Message
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		if forEveryone {
			if err := m.dev.RefuseRevoked(tx); err != nil { // a revoked device changes nothing for others
				return err
			}
			r, c, err := m.ownMessage(tx, id)
			if err != nil {
				return err
			}
			if err := m.markDeleted(tx, r); err != nil {
				return err
			}
			out = r.M
			if c == nil {
				return m.sendGroupControl(tx, r.M.ConversationID, &wire.Content{Kind: wire.KindDelete, Target: id})
			}
			return m.dev.SendDirect(tx, c, &wire.Content{Kind: wire.KindDelete, Target: id}, "") // node/devicesync
		}
		r, err := history.LoadItem(tx, m.sealer(), id)
		if err != nil {
			return err
		}
		if err := tx.Delete(history.KeyOrder(r.M.ConversationID, r.M.Order)); err != nil {
			return err
		}
		if err := m.markDeleted(tx, r); err != nil {
			return err
		}
		out = r.M
		return m.fixLast(tx, r.M.ConversationID, r.M.ID)
	})
	return out, err
}

func (m *Messenger) markDeleted(tx *store.Tx, r *history.Item) error {
	r.M.Deleted, r.M.Body, r.M.Reactions, r.ReactTS = true, "", map[string][]string{}, nil
	r.M.ReplyTo = nil
	if err := m.att.Drop(tx, r); err != nil {
		return err
	}
	if err := m.putMsg(tx, r, false); err != nil {
		return err
	}
	_, err := m.ev.Append(tx, api.KindMessageUpdate, r.M)
	return err
}

// fixLast points a conversation's last message at the newest remaining one after removed
// left its history (history.FixLast), and reports the conversation when it changed.
func (m *Messenger) fixLast(tx *store.Tx, convID, removed string) error {
	if changed, err := history.FixLast(tx, convID, removed); err != nil || !changed {
		return err
	}
	return m.emitConv(tx, convID)
}

// React adds or removes our reaction on a message, here and on the contact's node.
func (m *Messenger) React(ctx context.Context, id, emoji string, remove bool) (api.Message, error) {
	if emoji == "" || len(emoji) > wire.MaxEmoji || !utf8.ValidString(emoji) {
		return api.Message{}, api.Errorf(api.ErrBadRequest, "emoji must be 1 to %d bytes of UTF-8", wire.MaxEmoji)
	}
	var out api.Message
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		if err := m.dev.RefuseRevoked(tx); err != nil { // a revoked device changes nothing for others
			return err
		}
		r, err := history.LoadItem(tx, m.sealer(), id)
		if err != nil {
			return err
		}
		if r.M.Deleted {
			return api.Errorf(api.ErrConflict, "the message was deleted")
		}
		var c *sessions.Contact
		if r.ContactID != "" {
			if c, err = sessions.LoadContact(tx, r.ContactID); err != nil {
				return err
			}
		}
		ts := m.clock.Now().String()
		if applyReaction(r, m.uid, emoji, !remove, ts) {
			if err := m.putMsg(tx, r, false); err != nil {
				return err
			}
			if _, err := m.ev.Append(tx, api.KindMessageUpdate, r.M); err != nil {
				return err
			}
		}
		out = r.M
		content := &wire.Content{Kind: wire.KindReaction, TS: ts, Target: id, Emoji: emoji, Remove: remove, Expire: uint32(r.M.DisappearAfterS)} // its timer (outbox.ExpiryOf)
		if c == nil {
			return m.sendGroupControl(tx, r.M.ConversationID, content)
		}
		return m.dev.SendDirect(tx, c, content, "") // node/devicesync
	})
	return out, err
}

// applyReaction applies a reaction change stamped ts (history.ApplyReaction).
func applyReaction(r *history.Item, user, emoji string, present bool, ts string) bool {
	return history.ApplyReaction(r, user, emoji, present, ts)
}

// Settings returns the settings (node/settings).
func (m *Messenger) Settings(ctx context.Context) (out api.Settings, err error) {
	err = m.st.View(func(tx *store.Tx) error {
		out, err = settings.Get(tx)
		return err
	})
	return out, err
}

func (m *Messenger) settings(tx *store.Tx) (api.Settings, error) { return settings.Get(tx) }

// UpdateSettings changes the settings given (settings.Apply); presence follows at once.
func (m *Messenger) UpdateSettings(ctx context.Context, p api.SettingsPatch) (out api.Settings, err error) {
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		if out, err = settings.Apply(tx, p); err != nil {
			return err
		}
		if err := m.putSettings(tx, out); err != nil {
			return err
		}
		return m.dev.SyncSettings(tx, out) // to our other devices (node/devicesync)
	})
	return out, err
}

// putSettings saves the settings (a change here, or one synced from another device).
func (m *Messenger) putSettings(tx *store.Tx, s api.Settings) error {
	hidden := s.Presence == api.PresenceNobody
	tx.OnCommit(func() { m.live.SetHidden(hidden) })
	return settings.Put(tx, s)
}
