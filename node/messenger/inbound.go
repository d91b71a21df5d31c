package messenger

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/inbox"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/receipts"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// The receiving side: node/inbox keeps the per-contact bookkeeping of a receiving
// transaction (inbox.Batch: decryption, sessions, sequence numbers, cards, receipts, the
// save); this file gives it what it needs of the rest of the node (inboxHooks) and holds
// the handlers of the pairwise content kinds, registered in its dispatch table.

// frameTimeout bounds the wait for each frame on a message stream, and the writing of its
// acknowledgements. A sender keeps an idle stream open for idleLinger only, and gives up
// on acknowledgements after outbox.AckTimeout, so an honest stream never waits this long.
const frameTimeout = outq.AckTimeout

// handleMessages receives Deliver frames from a peer (inbox.Serve), stores what they carry
// in batches (receive) and acknowledges each once durable.
func (m *Messenger) handleMessages(s network.Stream) {
	ctx := m.runCtx()
	m.mu.Lock()
	if ctx.Err() != nil || m.stopping {
		m.mu.Unlock()
		s.Reset()
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	inbox.Serve(ctx, s, inbox.StreamLimits{Window: outq.Window, FrameTimeout: frameTimeout}, m.receive, m.log)
}

// receive processes a batch of Deliver frames from remote in one transaction.
func (m *Messenger) receive(ctx context.Context, remote peer.ID, ds []*wire.Deliver) ([]wire.Ack, error) {
	var acks []wire.Ack
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		acks, err = m.rx.Deliveries(tx, remote, ds)
		return err
	})
	return acks, err
}

// inboxHooks is what node/inbox is given of the messenger (New fills it in).
func (m *Messenger) inboxHooks() (*inbox.Hooks, error) {
	h := &inbox.Hooks{
		Identity: m.id, Now: m.now, Log: m.log, Ratchets: &m.ratchets, Clock: m.clock, Events: m.ev,
		InviteLive:      func(tx *store.Tx, id string) (bool, error) { return contacts.InviteLive(tx, id, m.now()) },
		NewContact:      m.newContact,
		IdentityChanged: m.identityChanged,
		Enqueue: func(tx *store.Tx, c *sessions.Contact, content *wire.Content, s0 *ratchet.State) (bool, error) {
			return m.enqueueWith(tx, c, content, "", s0)
		},
		ResetSession: func(tx *store.Tx, cid string) error {
			return outq.ResetSession(tx, &m.ratchets, outboxContacts{}, cid)
		},
		Sealer: m.outSealer(),
		Kick:   m.kick, AddAddrs: m.addAddrs, Contact: m.apiContact,
		DirectConv: m.apiDirectConv, EmitConv: m.emitConv,
		TakeList: m.dev.TakeList, // node/devicesync
	}
	var err error
	if h.Kinds, err = m.registerKinds(); err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	if h.OwnKinds, err = m.dev.OwnKinds(); err != nil { // node/devicesync
		return nil, fmt.Errorf("messenger: %w", err)
	}
	for _, k := range []string{wire.KindGroupOps, wire.KindGroupSync, wire.KindGroupKey, wire.KindGroupMsg, wire.KindGroupResend} {
		if err := h.OwnKinds.Register(k, m.rxGroup); err != nil { // our other devices' group contents
			return nil, fmt.Errorf("messenger: %w", err)
		}
	}
	return h, nil
}

// registerKinds is the dispatch table of the contents a contact sends pairwise: each kind
// wire knows and this node acts on, with its handler (below, and the group receive path
// for the group kinds). A kind left out is acknowledged and ignored (inbox.Table).
func (m *Messenger) registerKinds() (*inbox.Table[*inbox.Batch], error) {
	t := inbox.NewTable[*inbox.Batch](m.log)
	group := m.rxGroup // group.go
	for kind, h := range map[string]inbox.Handler[*inbox.Batch]{
		wire.KindText:         m.rxText,
		wire.KindReceipt:      m.rxReceipt,
		wire.KindEdit:         m.rxEdit,
		wire.KindDelete:       m.rxDelete,
		wire.KindReaction:     m.rxReaction,
		wire.KindResend:       func(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error { return b.Resend(ct) },
		wire.KindDisappear:    m.rxDisappear,
		wire.KindDevices:      m.dev.RxDevices, // node/devicesync
		wire.KindGroupOps:     group,
		wire.KindGroupSync:    group,
		wire.KindGroupKey:     group,
		wire.KindGroupMsg:     group,
		wire.KindGroupResend:  group,
		wire.KindGroupReceipt: group,
	} {
		if err := t.Register(kind, h); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// rxReceipt applies a delivery or read receipt to our messages it names.
func (m *Messenger) rxReceipt(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
	status, level := api.StatusDelivered, 1
	if ct.Status == wire.ReceiptRead {
		status, level = api.StatusRead, 2
	}
	var ours []string
	for _, id := range ct.IDs {
		r, err := m.target(b, id)
		if err != nil || r == nil || r.M.SenderID != m.uid {
			continue
		}
		if err := m.setStatusRec(b.Tx(), r, status, ""); err != nil {
			return err
		}
		if _, _, err := receipts.Note(b.Tx(), id, b.Contact().UserID, level, m.nowMS()); err != nil {
			return err // the receipt's time, for GET /v1/messages/{id}/receipts
		}
		ours = append(ours, id)
	}
	// Our other devices show the same status (node/devicesync).
	return m.dev.SyncReceipt(b.Tx(), b.Contact().UserID, ct.Status, ours, m.nowMS())
}

// rxEdit applies the contact's edit of its own message (the latest edit wins).
func (m *Messenger) rxEdit(b *inbox.Batch, ct *wire.Content, ts hlc.Timestamp) error {
	r, err := m.target(b, ct.Target)
	if err != nil || r == nil || r.M.SenderID != b.Contact().UserID || r.M.Deleted || ct.TS <= r.EditTS {
		return err
	}
	r.M.Body, r.EditTS = ct.Body, ct.TS
	at := ts.Wall
	r.M.EditedAt = &at
	if err := m.putMsg(b.Tx(), r, false); err != nil {
		return err
	}
	_, err = m.ev.Append(b.Tx(), api.KindMessageUpdate, r.M)
	return err
}

// rxDelete deletes the contact's own message for everyone.
func (m *Messenger) rxDelete(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
	r, err := m.target(b, ct.Target)
	if err != nil || r == nil || r.M.SenderID != b.Contact().UserID || r.M.Deleted {
		return err
	}
	return m.markDeleted(b.Tx(), r)
}

// rxReaction applies the contact's reaction (or its removal), in timestamp order.
func (m *Messenger) rxReaction(b *inbox.Batch, ct *wire.Content, _ hlc.Timestamp) error {
	r, err := m.target(b, ct.Target)
	if err != nil || r == nil || r.M.Deleted {
		return err
	}
	if applyReaction(r, b.Contact().UserID, ct.Emoji, !ct.Remove, ct.TS) {
		if err := m.putMsg(b.Tx(), r, false); err != nil {
			return err
		}
		_, err = m.ev.Append(b.Tx(), api.KindMessageUpdate, r.M)
		return err
	}
	return nil
}

// target loads a message of the batch contact's conversation, or nil.
func (m *Messenger) target(b *inbox.Batch, id string) (*history.Item, error) {
	r, err := history.LoadItem(b.Tx(), m.sealer(), id)
	if errors.Is(err, api.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.M.ConversationID != b.Contact().ConvID {
		return nil, nil
	}
	return r, nil
}

// rxText stores a text message of the contact (once: a resend of one we have is dropped).
func (m *Messenger) rxText(b *inbox.Batch, ct *wire.Content, ts hlc.Timestamp) error {
	tx := b.Tx()
	if _, err := tx.Get(history.KeyMsg(ct.ID)); err == nil {
		return nil // already have it (a resend)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c, conv := b.Contact(), b.Conversation()
	var replyTo *string
	if ct.ReplyTo != "" {
		r := ct.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: ct.ID, ConversationID: conv.ID, SenderID: c.UserID, Body: ct.Body, ReplyTo: replyTo,
		Attachments: m.att.Received(tx, ct.ID, c.PeerID, c.Relays, ct.Attachments), SentAt: ts.Wall, ReceivedAt: m.nowMS(),
		Order:  hlc.OrderKey(ts, c.UserID+"-"+ct.ID),
		Status: api.StatusDelivered, Receipts: api.Receipts{Delivered: 1, Total: 1},
		Reactions: map[string][]string{}, DisappearAfterS: int64(ct.Expire),
	}
	if m.expiredOnArrival(msg.SentAt, msg.DisappearAfterS) { // expiry.go
		return m.putTombstone(tx, &history.Item{M: msg, ContactID: c.ID, Incoming: true})
	}
	if err := m.putMsg(tx, &history.Item{M: msg, ContactID: c.ID, Incoming: true}, true); err != nil {
		return err
	}
	if _, err := m.ev.Append(tx, api.KindMessage, msg); err != nil {
		return err
	}
	b.Took(msg)
	return nil
}
