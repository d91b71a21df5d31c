package messenger

import (
	"errors"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Linked devices, the sending side: a content to a person goes to each of their active
// devices (fanOut: one encryption per device, each in its own channel), and what this
// device did goes to our own other devices as sync contents (syncOwn, syncContact); the
// receiving side of those is rxOwn. docs/PROTOCOL.md, "Linked devices".

// fanOut queues content (and msgID's status) for every active device of contact c, each in
// its own channel with its own sequence number, encrypting at once under each device's
// session when the outbox's order allows (outbox.Enqueue). The id and timestamp are the
// same for all, so every device shows the message with the same order.
func (m *Messenger) fanOut(tx *store.Tx, c *contactRec, content *wire.Content, msgID string) error {
	if s, err := m.self(tx); err != nil {
		return err
	} else if s.Revoked() {
		return api.Errorf(api.ErrForbidden, "this device was revoked by the account's primary device: it sends nothing")
	}
	if content.TS == "" {
		content.TS = m.clock.Now().String()
	}
	if content.ID == "" {
		content.ID = newID("x")
	}
	chs, err := channelsOf(tx, c)
	if err != nil {
		return err
	}
	for _, cc := range chs {
		cp := *content
		s0, err := m.ratchets.Load(tx, cc.ch(), sessions.Current)
		if err != nil {
			return err
		}
		sealed, err := m.enqueueWith(tx, cc, &cp, msgID, s0)
		if err != nil {
			return err
		}
		if sealed {
			if err := m.ratchets.Save(tx, cc.ch(), sessions.Current, s0); err != nil {
				return err
			}
		}
	}
	return nil
}

// syncOwn queues, for each of our own other devices, a copy of inner (a content this
// device sent contact uid, or made about its conversation: a read receipt) as a sync
// content.
func (m *Messenger) syncOwn(tx *store.Tx, uid string, inner *wire.Content) error {
	own, err := m.ownChannels(tx)
	if err != nil || len(own) == 0 {
		return err
	}
	in := *inner
	in.Card, in.Seq = nil, 1 // the inner content's seq is not used: the sync content has its own
	data, err := in.Marshal()
	if err != nil {
		return err
	}
	for _, oc := range own {
		if err := m.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, With: uid, Data: data, TS: inner.TS}, ""); err != nil {
			return err
		}
	}
	return nil
}

// sendDirect is fanOut to contact c and the sync copy for our own devices.
func (m *Messenger) sendDirect(tx *store.Tx, c *contactRec, content *wire.Content, msgID string) error {
	if err := m.fanOut(tx, c, content, msgID); err != nil {
		return err
	}
	return m.syncOwn(tx, c.UserID, content)
}

// syncContact queues contact c as this device holds it for our own other devices.
func (m *Messenger) syncContact(tx *store.Tx, c *contactRec) error {
	if c.Chan != "" || c.own() {
		return nil
	}
	own, err := m.ownChannels(tx)
	if err != nil || len(own) == 0 {
		return err
	}
	return m.syncContactTo(tx, c, own)
}

// syncContactTo queues contact c for the own devices' channels own.
func (m *Messenger) syncContactTo(tx *store.Tx, c *contactRec, own []*contactRec) error {
	devs, err := devices.ContactRaw(tx, c.ID)
	if err != nil {
		return err
	}
	data, err := wire.MarshalSyncedContact(&wire.SyncedContact{
		UserID: c.UserID, Identity: c.Identity, PeerID: c.PeerID, Addrs: capped(c.Addrs), Relays: capped(c.Relays),
		Name: c.Name, NameSet: c.NameSet, Verified: c.Verified, Blocked: c.Blocked, Request: c.Request, Devices: devs,
	})
	if err != nil {
		return err
	}
	for _, oc := range own {
		if err := m.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, Status: wire.SyncContact, With: c.UserID, Data: data}, ""); err != nil {
			return err
		}
	}
	return nil
}

// capped is at most wire.MaxAddrs of as.
func capped(as []string) []string { return as[:min(len(as), wire.MaxAddrs)] }

// rxOwn applies what one of our own devices sent: a new device list, a sync content, a
// resend request. Nothing else is taken from our own devices.
func (b *rxBatch) rxOwn(ct *wire.Content, ts hlc.Timestamp) error {
	switch ct.Kind {
	case wire.KindDevices:
		return b.m.takeList(b.tx, ct.Data)
	case wire.KindResend:
		return b.rxResend(ct, ts)
	case wire.KindSync:
		if ct.Status == wire.SyncContact {
			return b.m.applySyncedContact(b.tx, ct.Data)
		}
		return b.m.applySync(b.tx, ct.With, ct.Data)
	}
	b.m.log.Info("ignored a content of our own device", "kind", ct.Kind)
	return nil
}

// rxDevices takes a contact's new device list.
func (b *rxBatch) rxDevices(ct *wire.Content, _ hlc.Timestamp) error {
	return b.m.takeList(b.tx, ct.Data)
}

// applySyncedContact creates or updates the contact one of our devices describes.
func (m *Messenger) applySyncedContact(tx *store.Tx, data []byte) error {
	sc, err := wire.ParseSyncedContact(data)
	if err != nil {
		m.log.Info("malformed synced contact", "err", err)
		return nil
	}
	pub, err := identity.ParsePublic(sc.Identity)
	if err != nil {
		return nil
	}
	cid, err := getString(tx, kContactByUser(sc.UserID))
	if err != nil {
		return err
	}
	var c *contactRec
	if cid == "" {
		pid := sc.PeerID
		if owner, err := getString(tx, kContactByPeer(pid)); err != nil {
			return err
		} else if owner != "" {
			pid = "" // the peer is another contact's: a card or the contact's list says more later
		}
		if c, err = m.newContact(tx, pub, pid, sc.Request); err != nil {
			return err
		}
	} else if c, err = loadContact(tx, cid); err != nil {
		return err
	}
	if c.PeerID == "" || !c.PeerProven {
		c.Addrs, c.Relays = sc.Addrs, sc.Relays
	}
	c.Name, c.NameSet, c.Verified, c.Blocked = sc.Name, sc.NameSet, sc.Verified, sc.Blocked
	if sc.Request != "" && c.Request != api.RequestAccepted {
		c.Request = sc.Request
	}
	if err := saveContact(tx, c); err != nil {
		return err
	}
	if len(sc.Devices) > 0 {
		if err := m.takeList(tx, sc.Devices); err != nil {
			return err
		}
	}
	if _, err := m.ev.Append(tx, api.KindContact, m.apiContact(c)); err != nil {
		return err
	}
	return m.emitConv(tx, c.ConvID)
}

// applySync applies, as this account's own, the content inner that one of our devices
// sent contact uid (or made about that conversation).
func (m *Messenger) applySync(tx *store.Tx, uid string, data []byte) error {
	in, err := wire.ParseContent(data)
	if err != nil {
		m.log.Info("malformed synced content", "err", err)
		return nil
	}
	ts, err := hlc.Parse(in.TS)
	if err != nil {
		return nil
	}
	_, _ = m.clock.Observe(ts)
	cid, err := getString(tx, kContactByUser(uid))
	if err != nil || cid == "" {
		return err // a contact this device does not know yet: its contact sync comes first
	}
	c, err := loadContact(tx, cid)
	if err != nil {
		return err
	}
	switch in.Kind {
	case wire.KindText:
		return m.syncedText(tx, c, in, ts)
	case wire.KindReceipt:
		if in.Status == wire.ReceiptRead && len(in.IDs) > 0 {
			err := m.markRead(tx, c.ConvID, in.IDs[len(in.IDs)-1], false)
			if errors.Is(err, api.ErrNotFound) {
				return nil // not here (yet)
			}
			return err
		}
		return nil
	case wire.KindEdit, wire.KindDelete, wire.KindReaction:
		r, err := loadMsg(tx, in.Target)
		if errors.Is(err, api.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if r.M.ConversationID != c.ConvID || r.M.Deleted {
			return nil
		}
		switch in.Kind {
		case wire.KindEdit:
			if r.M.SenderID != m.uid || in.TS <= r.EditTS {
				return nil
			}
			r.M.Body, r.EditTS = in.Body, in.TS
			at := ts.Wall
			r.M.EditedAt = &at
		case wire.KindDelete:
			if r.M.SenderID != m.uid {
				return nil
			}
			return m.markDeleted(tx, r)
		case wire.KindReaction:
			if !applyReaction(r, m.uid, in.Emoji, !in.Remove, in.TS) {
				return nil
			}
		}
		if err := m.putMsg(tx, r, false); err != nil {
			return err
		}
		_, err = m.ev.Append(tx, api.KindMessageUpdate, r.M)
		return err
	}
	return nil
}

// syncedText stores a text one of our devices sent contact c as ours, with the id and
// timestamp it was sent with (so the same order), once.
func (m *Messenger) syncedText(tx *store.Tx, c *contactRec, in *wire.Content, ts hlc.Timestamp) error {
	if _, err := tx.Get(kMsg(in.ID)); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	conv, err := loadConv(tx, c.ConvID)
	if err != nil {
		return err
	}
	var replyTo *string
	if in.ReplyTo != "" {
		r := in.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: in.ID, ConversationID: conv.ID, SenderID: m.uid, Body: in.Body, ReplyTo: replyTo,
		SentAt: ts.Wall, ReceivedAt: m.nowMS(), Order: hlc.OrderKey(ts, m.uid+"-"+in.ID),
		Status: api.StatusSent, Receipts: api.Receipts{Total: 1}, Reactions: map[string][]string{},
		DisappearAfterS: int64(in.Expire),
	}
	if err := m.putMsg(tx, &msgRec{M: msg, ContactID: c.ID}, true); err != nil {
		return err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return err
	}
	last := ""
	if conv.LastMsgID != "" {
		if r, err := loadMsg(tx, conv.LastMsgID); err == nil {
			last = r.M.Order
		}
	}
	if msg.Order > last {
		conv.LastMsgID = msg.ID
	}
	conv.UpdatedAt = max(conv.UpdatedAt, msg.SentAt)
	if err := putJSON(tx, kConv(conv.ID), conv); err != nil {
		return err
	}
	return m.emitConv(tx, conv.ID)
}
