package devicesync

import (
	"errors"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/expiry"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/inbox"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// channelsOf loads the channels of every active device of contact c (c itself for its
// primary), in its list's order.
func channelsOf(tx *store.Tx, ratchets *sessions.Cache, c *sessions.Contact) ([]*sessions.Contact, error) {
	acct, err := ratchets.Account(c)
	if err != nil {
		return nil, err
	}
	chs, err := devices.ContactChannels(tx, c.ID, acct, c.PeerID, c.Relays)
	if err != nil {
		return nil, err
	}
	out := make([]*sessions.Contact, 0, len(chs))
	for _, x := range chs {
		if x.Primary {
			out = append(out, c)
			continue
		}
		dc, err := sessions.LoadContact(tx, x.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, dc)
	}
	return out, nil
}

// ownChannels loads the channels of our own other active devices.
func (s *Service) ownChannels(tx *store.Tx) ([]*sessions.Contact, error) {
	me, err := s.Self(tx)
	if err != nil || me.Raw == nil {
		return nil, err
	}
	var out []*sessions.Contact
	for _, x := range me.OwnChannels() {
		c, err := sessions.LoadContact(tx, x.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// TakeList takes raw, a signed device list, for the account it names: ours (AcceptOwn) or
// a contact's (AcceptContact, under the key we hold for that contact). A list that does
// not verify, is older than the one held, or names an account we do not know changes
// nothing (and is no error: it is logged). A contact's device the new list revokes gets
// nothing more: what waits for it is dropped with its sessions.
func (s *Service) TakeList(tx *store.Tx, raw []byte) error {
	sl, err := wire.ParseDeviceList(raw)
	if err != nil {
		s.cfg.Log.Info("malformed device list", "err", err)
		return nil
	}
	if sl.List.Account == s.uid {
		me, err := s.Self(tx)
		if err != nil {
			return err
		}
		was := me.Revoked()
		if _, changed, err := devices.AcceptOwn(tx, me, raw); err != nil {
			if !errors.Is(err, api.ErrForbidden) {
				return err
			}
			s.cfg.Log.Info("own device list refused", "err", err)
		} else if changed && !was && me.Revoked() {
			return s.revokedNow(tx, me) // revoked.go
		}
		return nil
	}
	cid, err := contacts.ByUser(tx, sl.List.Account)
	if err != nil || cid == "" {
		return err
	}
	r, err := contacts.Get(tx, cid)
	if err != nil {
		return err
	}
	acct, err := identity.ParsePublic(r.Identity)
	if err != nil {
		return err
	}
	l, changed, err := devices.AcceptContact(tx, cid, acct, raw)
	if err != nil {
		if !errors.Is(err, api.ErrForbidden) {
			return err
		}
		s.cfg.Log.Info("contact's device list refused", "contact", cid, "err", err)
		return nil
	}
	if !changed {
		return nil
	}
	for _, d := range l.Devices {
		if d.Revoked != 0 {
			if err := dropChannel(tx, devices.Channel(cid, d.ID, wire.DeviceID(acct))); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropChannel removes what waits in channel ch's outbox and its sessions.
func dropChannel(tx *store.Tx, ch string) error {
	if _, err := tx.DeletePrefix(outq.KeyPrefix(ch)); err != nil {
		return err
	}
	for i := range 2 {
		if err := sessions.Delete(tx, ch, i); err != nil {
			return err
		}
	}
	return nil
}

// Linked devices, the sending side: a content to a person goes to each of their active
// devices (fanOut: one encryption per device, each in its own channel), and what this
// device did goes to our own other devices as sync contents (syncOwn, syncContact); the
// receiving side of those is rxOwn. docs/PROTOCOL.md, "Linked devices".

// FanOut queues content (and msgID's status) for every active device of contact c, each in
// its own channel with its own sequence number, encrypting at once under each device's
// session when the outbox's order allows (outbox.Enqueue). The id and timestamp are the
// same for all, so every device shows the message with the same order.
func (s *Service) FanOut(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error {
	if err := s.RefuseRevoked(tx); err != nil {
		return err
	}
	if content.TS == "" {
		content.TS = s.cfg.Clock.Now().String()
	}
	if content.ID == "" {
		content.ID = api.NewID("x")
	}
	chs, err := channelsOf(tx, s.cfg.Ratchets, c)
	if err != nil {
		return err
	}
	for _, cc := range chs {
		cp := *content
		s0, err := s.cfg.Ratchets.Load(tx, cc.Ch(), sessions.Current)
		if err != nil {
			return err
		}
		sealed, err := s.cfg.Enqueue(tx, cc, &cp, msgID, s0)
		if err != nil {
			return err
		}
		if sealed {
			if err := s.cfg.Ratchets.Save(tx, cc.Ch(), sessions.Current, s0); err != nil {
				return err
			}
		}
	}
	return nil
}

// SyncOwn queues, for each of our own other devices, a copy of inner (a content this
// device sent contact uid, or made about its conversation: a read receipt) as a sync
// content.
func (s *Service) SyncOwn(tx *store.Tx, uid string, inner *wire.Content) error {
	own, err := s.ownChannels(tx)
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
		if err := s.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, With: uid, Data: data, TS: inner.TS}, ""); err != nil {
			return err
		}
	}
	return nil
}

// SendDirect is FanOut to contact c and the sync copy for our own devices.
func (s *Service) SendDirect(tx *store.Tx, c *sessions.Contact, content *wire.Content, msgID string) error {
	if err := s.FanOut(tx, c, content, msgID); err != nil {
		return err
	}
	return s.SyncOwn(tx, c.UserID, content)
}

// SyncContact queues contact c as this device holds it for our own other devices.
func (s *Service) SyncContact(tx *store.Tx, c *sessions.Contact) error {
	if c.Chan != "" || c.Own() {
		return nil
	}
	own, err := s.ownChannels(tx)
	if err != nil || len(own) == 0 {
		return err
	}
	return s.syncContactTo(tx, c, own)
}

// syncContactTo queues contact c for the own devices' channels own.
func (s *Service) syncContactTo(tx *store.Tx, c *sessions.Contact, own []*sessions.Contact) error {
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
		if err := s.enqueue(tx, oc, &wire.Content{Kind: wire.KindSync, Status: wire.SyncContact, With: c.UserID, Data: data}, ""); err != nil {
			return err
		}
	}
	return nil
}

// OwnKinds is the dispatch table of what our own other devices send: a new
// device list, a sync content, a resend request. Nothing else is taken from them.
func (s *Service) OwnKinds() (*inbox.Table[*inbox.Batch], error) {
	t := inbox.NewTable[*inbox.Batch](s.cfg.Log)
	for kind, h := range map[string]inbox.Handler[*inbox.Batch]{
		wire.KindDevices: s.RxDevices,
		wire.KindResend:  func(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error { return b.Resend(ct) },
		wire.KindSync: func(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
			switch ct.Status {
			case wire.SyncContact:
				return s.applySyncedContact(b.Tx(), ct.Data)
			case wire.SyncDevice:
				return s.applySyncedDevice(b, ct.Data) // reach.go
			case wire.SyncReceipt:
				return s.applySyncedReceipt(b.Tx(), ct.With, ct.Data) // status.go
			case wire.SyncContent:
				return s.applySync(b.Tx(), b.Contact(), ct.With, ct.Data)
			}
			return nil
		},
	} {
		if err := t.Register(kind, h); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// RxDevices takes a new device list (a contact's, or from one of our devices ours).
func (s *Service) RxDevices(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
	return s.TakeList(b.Tx(), ct.Data)
}

// applySyncedContact creates or updates the contact one of our devices describes.
func (s *Service) applySyncedContact(tx *store.Tx, data []byte) error {
	sc, err := wire.ParseSyncedContact(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced contact", "err", err)
		return nil
	}
	pub, err := identity.ParsePublic(sc.Identity)
	if err != nil {
		return nil
	}
	cid, err := contacts.ByUser(tx, sc.UserID)
	if err != nil {
		return err
	}
	var c *sessions.Contact
	if cid == "" {
		pid := sc.PeerID
		if owner, err := contacts.ByPeer(tx, pid); err != nil {
			return err
		} else if owner != "" {
			pid = "" // the peer is another contact's: a card or the contact's list says more later
		}
		if c, err = s.cfg.NewContact(tx, pub, pid, sc.Request); err != nil {
			return err
		}
	} else if c, err = sessions.LoadContact(tx, cid); err != nil {
		return err
	}
	if c.PeerID == "" || !c.PeerProven {
		c.Addrs, c.Relays = sc.Addrs, sc.Relays
	}
	c.Name, c.NameSet, c.Verified, c.Blocked = sc.Name, sc.NameSet, sc.Verified, sc.Blocked
	if sc.Request != "" && c.Request != api.RequestAccepted {
		c.Request = sc.Request
	}
	if err := sessions.SaveContact(tx, c); err != nil {
		return err
	}
	if len(sc.Devices) > 0 {
		if err := s.TakeList(tx, sc.Devices); err != nil {
			return err
		}
	}
	if _, err := s.cfg.Events.Append(tx, api.KindContact, s.cfg.APIContact(c)); err != nil {
		return err
	}
	return s.cfg.EmitConv(tx, c.ConvID)
}

// applySync applies, as this account's own, the content inner that our device dev (its
// self~ channel) sent contact uid (or made about that conversation).
func (s *Service) applySync(tx *store.Tx, dev *sessions.Contact, uid string, data []byte) error {
	in, err := wire.ParseContent(data)
	if err != nil {
		s.cfg.Log.Info("malformed synced content", "err", err)
		return nil
	}
	ts, err := hlc.Parse(in.TS)
	if err != nil {
		return nil
	}
	_, _ = s.cfg.Clock.Observe(ts)
	cid, err := contacts.ByUser(tx, uid)
	if err != nil || cid == "" {
		return err // a contact this device does not know yet: its contact sync comes first
	}
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return err
	}
	switch in.Kind {
	case wire.KindText:
		return s.syncedText(tx, dev, c, in, ts)
	case wire.KindReceipt:
		if in.Status == wire.ReceiptRead && len(in.IDs) > 0 {
			err := s.cfg.MarkRead(tx, c.ConvID, in.IDs[len(in.IDs)-1])
			if errors.Is(err, api.ErrNotFound) {
				return nil // not here (yet)
			}
			return err
		}
		return nil
	case wire.KindEdit, wire.KindDelete, wire.KindReaction:
		r, err := history.LoadItem(tx, s.cfg.Sealer, in.Target)
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
			if r.M.SenderID != s.uid || in.TS <= r.EditTS {
				return nil
			}
			r.M.Body, r.EditTS = in.Body, in.TS
			at := ts.Wall
			r.M.EditedAt = &at
		case wire.KindDelete:
			if r.M.SenderID != s.uid {
				return nil
			}
			return s.cfg.MarkDeleted(tx, r)
		case wire.KindReaction:
			if !s.cfg.ApplyReaction(r, s.uid, in.Emoji, !in.Remove, in.TS) {
				return nil
			}
		}
		if err := s.cfg.PutMsg(tx, r, false); err != nil {
			return err
		}
		_, err = s.cfg.Events.Append(tx, api.KindMessageUpdate, r.M)
		return err
	}
	return nil
}

// syncedText stores a text our device dev sent contact c as ours, with the id and
// timestamp it was sent with (so the same order), once; its attachments are fetched from
// that device (or its relays), as a contact's are from the contact.
func (s *Service) syncedText(tx *store.Tx, dev, c *sessions.Contact, in *wire.Content, ts hlc.Timestamp) error {
	if _, err := tx.Get(history.KeyMsg(in.ID)); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	conv, err := history.GetConversation(tx, c.ConvID)
	if err != nil {
		return err
	}
	var replyTo *string
	if in.ReplyTo != "" {
		r := in.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: in.ID, ConversationID: conv.ID, SenderID: s.uid, Body: in.Body, ReplyTo: replyTo,
		Attachments: s.cfg.Attachments(tx, in.ID, dev.PeerID, dev.Relays, in.Attachments), SentAt: ts.Wall, ReceivedAt: s.cfg.Now().UnixMilli(), Order: hlc.OrderKey(ts, s.uid+"-"+in.ID),
		Status: api.StatusSent, Receipts: api.Receipts{Total: 1}, Reactions: map[string][]string{},
	}
	expiry.Start(&msg, int64(in.Expire), ts.Wall) // ours: the timer runs from when it was sent
	if err := s.cfg.PutMsg(tx, &history.Item{M: msg, ContactID: c.ID}, true); err != nil {
		return err
	}
	if _, err := s.cfg.Events.Append(tx, api.KindMessage, msg); err != nil {
		return err
	}
	last := ""
	if conv.LastMsgID != "" {
		if r, err := history.LoadItem(tx, s.cfg.Sealer, conv.LastMsgID); err == nil {
			last = r.M.Order
		}
	}
	if msg.Order > last {
		conv.LastMsgID = msg.ID
	}
	conv.UpdatedAt = max(conv.UpdatedAt, msg.SentAt)
	if err := history.PutConversation(tx, conv); err != nil {
		return err
	}
	return s.cfg.EmitConv(tx, conv.ID)
}
