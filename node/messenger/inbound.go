package messenger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"github.com/petrel-chat/petrel/node/receipts"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// frameTimeout bounds the wait for each frame on a message stream, and the writing of its
// acknowledgements. A sender keeps an idle stream open for idleLinger only, and gives up
// on acknowledgements after ackTimeout, so an honest stream never waits this long.
const frameTimeout = ackTimeout

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
	inbox.Serve(ctx, s, inbox.StreamLimits{Window: window, FrameTimeout: frameTimeout}, m.receive, m.log)
}

// rxBatch is the state of one receiving transaction.
type rxBatch struct {
	m      *Messenger
	tx     *store.Tx
	remote peer.ID // the authenticated peer that delivered, or "" for mailbox mail
	// sealedFrom is the sender a mailbox envelope authenticated (nil for direct delivery).
	sealedFrom *sealed.Opened

	c    *contactRec
	ss   inbox.Sessions   // c's sessions (node/sessions loads and saves them)
	resp *inbox.Responder // answers initial messages with the node's prekeys
	conv *convRec

	delivered  []string
	last       *api.Message // the conversation's last message, if this batch stored it
	convDirty  bool
	contactEvt bool
	kicks      bool
	// lost: mailbox mail of this contact did not decrypt (no ack can tell the sender).
	lost bool
}

// receive processes a batch of Deliver frames from remote in one transaction.
func (m *Messenger) receive(ctx context.Context, remote peer.ID, ds []*wire.Deliver) ([]wire.Ack, error) {
	acks := make([]wire.Ack, len(ds))
	err := m.st.Update(ctx, func(tx *store.Tx) error {
		b := m.newBatch(tx, remote)
		cid, err := getString(tx, kContactByPeer(remote.String()))
		if err != nil {
			return err
		}
		if cid != "" {
			if err := b.useContact(cid); err != nil {
				return err
			}
		}
		for i, d := range ds {
			st, err := b.one(d)
			if err != nil {
				return err
			}
			acks[i] = wire.Ack{ID: d.ID, Status: st}
		}
		return b.finish()
	})
	return acks, err
}

// newBatch starts the receiving batch of one transaction: remote is the peer that
// delivered, or "" for mailbox mail.
func (m *Messenger) newBatch(tx *store.Tx, remote peer.ID) *rxBatch {
	return &rxBatch{m: m, tx: tx, remote: remote, resp: &inbox.Responder{ID: m.id, Now: m.now, Log: m.log}}
}

func (b *rxBatch) useContact(cid string) error {
	c, err := loadContact(b.tx, cid)
	if err != nil {
		return err
	}
	b.c = c
	if b.ss.Current, err = b.m.ratchets.Load(b.tx, cid, sessions.Current); err != nil {
		return err
	}
	if b.ss.Previous, err = b.m.ratchets.Load(b.tx, cid, sessions.Previous); err != nil {
		return err
	}
	b.conv, err = loadConv(b.tx, c.ConvID)
	return err
}

// one handles one Deliver and returns its ack status; an error aborts the batch.
//
// Nothing about a contact changes before a message has decrypted under its session: an
// initial message names its initiator's identity, but anyone can copy a public identity
// into one, and only the key exchange (which needs that identity's private keys) proves it.
func (b *rxBatch) one(d *wire.Deliver) (wire.AckStatus, error) {
	var before string
	if b.c != nil {
		before = b.c.ID
	}
	st, err := b.take(d)
	if err != nil {
		return 0, err
	}
	if st == wire.AckUndecryptable && b.sealedFrom != nil && b.c != nil {
		b.lost = true // b.c is the sender the envelope authenticated (ReceiveSealed, take)
	}
	if st != wire.AckStored && b.remote != "" && b.c != nil && b.c.ID != before {
		// An initial message naming another contact's identity proved nothing: what else
		// this stream brings is its own peer's again.
		if err := b.flush(); err != nil {
			return 0, err
		}
		b.c, b.ss, b.conv = nil, inbox.Sessions{}, nil
		if before != "" {
			if err := b.useContact(before); err != nil {
				return 0, err
			}
		}
	}
	return st, nil
}

// take is one without the bookkeeping of undecryptable mailbox mail.
func (b *rxBatch) take(d *wire.Deliver) (wire.AckStatus, error) {
	tx := b.tx
	if d.Initial != nil {
		pub, err := pqxdh.InitiatorIdentity(d.Initial)
		if err != nil {
			return wire.AckUndecryptable, nil
		}
		if b.sealedFrom != nil && !b.sealedFrom.From(pub) {
			return wire.AckUndecryptable, nil // sealed by someone else than the session's initiator
		}
		if b.c == nil || b.c.UserID != string(pub.UserID()) {
			cid, err := getString(tx, kContactByUser(string(pub.UserID())))
			if err != nil {
				return 0, err
			}
			if cid == "" {
				return b.newcomer(d, pub)
			}
			// A known identity writing from another peer than the one this stream's peer
			// routes to: its own contact takes the message (and proves its peer in prove).
			if err := b.switchTo(cid); err != nil {
				return 0, err
			}
			if known, err := identity.ParsePublic(b.c.Identity); err != nil || !known.Equal(pub) {
				return wire.AckUndecryptable, nil // a user id collision cannot happen; refuse rather than guess
			}
		}
	}
	if b.c == nil {
		return wire.AckUndecryptable, nil
	}
	if seen, err := inbox.Seen(tx, b.c.ID, d.ID); err != nil || seen {
		return wire.AckStored, err
	}
	// A blocked contact's messages are decrypted (so the session and the sequence numbers
	// move on) and then dropped in apply; the Ack says stored, as for anyone else, so the
	// sender sees "sent" and never "delivered" — and is not told that they are blocked.
	// Nothing sent while blocked is asked for again after an unblock.
	var pt []byte
	sum := sha256.Sum256(d.Initial)
	if d.Initial != nil && !bytes.Equal(sum[:], b.c.Seen) {
		st, used, p, err := b.respond(d)
		if err != nil {
			return 0, err
		}
		if st == nil {
			return wire.AckUndecryptable, nil
		}
		pt = p
		if err := b.adopt(st, used, sum[:]); err != nil {
			return 0, err
		}
	} else {
		var err error
		pt, err = b.decrypt(d.Message)
		if errors.Is(err, ratchet.ErrReplay) {
			return wire.AckStored, nil
		}
		if err != nil {
			b.m.log.Info("undecryptable message", "contact", b.c.ID, "err", err)
			return wire.AckUndecryptable, nil
		}
	}
	if err := inbox.MarkSeen(tx, b.c.ID, d.ID); err != nil {
		return 0, err
	}
	content, err := wire.ParseContent(pt)
	if err != nil {
		b.m.log.Info("malformed content", "contact", b.c.ID, "err", err)
		return wire.AckRefused, nil
	}
	if err := b.prove(content.Card); err != nil {
		return 0, err
	}
	return wire.AckStored, b.apply(content)
}

// respond runs PQXDH for d's initial message and decrypts the ratchet message it carries,
// changing nothing stored. st is nil when either fails (the message is undecryptable).
func (b *rxBatch) respond(d *wire.Deliver) (st *ratchet.State, used []uint32, pt []byte, err error) {
	return b.resp.Respond(b.tx, d.Initial, d.Message)
}

// adopt installs st, the session an initial message (hash sum) started and whose first
// message decrypted, as b.c's, and uses up the one-time prekeys it took.
func (b *rxBatch) adopt(st *ratchet.State, used []uint32, sum []byte) error {
	if err := b.resp.Consume(used); err != nil {
		return err
	}
	b.c.Seen = sum
	if b.ss.Take(st) {
		b.c.Initial = nil
		// What waits in the outbox was encrypted for a session they have left.
		return b.reseal()
	}
	return nil
}

// newcomer handles an initial message of an identity that is no contact's. Only once its
// first message has decrypted (the key exchange proves the identity) and parsed does it
// become a contact: a new one (a message request), or — when the stream's peer is a
// contact's proven peer and the message's card names that very peer — that contact's
// identity change, with the warning. The libp2p peer key proves the peer id; the card,
// inside a message only the new identity could encrypt, is that identity's word that the
// peer is its own.
func (b *rxBatch) newcomer(d *wire.Deliver, pub *identity.PublicIdentity) (wire.AckStatus, error) {
	st, used, pt, err := b.respond(d)
	if err != nil {
		return 0, err
	}
	if st == nil {
		return wire.AckUndecryptable, nil
	}
	content, err := wire.ParseContent(pt)
	if err != nil {
		b.m.log.Info("malformed content from a new identity", "err", err)
		return wire.AckRefused, nil
	}
	if content.Card != nil && content.Card.Invite != "" {
		// A request that names an invite must name a live one of ours (invites.go).
		live, err := b.m.inviteLive(b.tx, content.Card.Invite)
		if err != nil {
			return 0, err
		}
		if !live {
			b.m.log.Info("refused a request under a revoked, expired or unknown invite")
			return wire.AckRefused, nil
		}
	}
	if err := b.flush(); err != nil {
		return 0, err
	}
	b.c = nil
	tx := b.tx
	claims := b.remote != "" && content.Card != nil && content.Card.PeerID == b.remote.String()
	var owner *contactRec
	if claims {
		oid, err := getString(tx, kContactByPeer(b.remote.String()))
		if err != nil {
			return 0, err
		}
		if oid != "" {
			if owner, err = loadContact(tx, oid); err != nil {
				return 0, err
			}
		}
	}
	if owner != nil && owner.PeerProven && owner.PeerID == b.remote.String() {
		if err := b.m.identityChanged(tx, owner, pub); err != nil {
			return 0, err
		}
		if err := b.useContact(owner.ID); err != nil {
			return 0, err
		}
		b.convDirty = true
	} else {
		pid := ""
		if claims {
			pid = b.remote.String()
			if owner != nil {
				// The peer was only claimed for that contact (by a link, a card): its key
				// holder just proved it is this identity's.
				b.m.log.Warn("a peer claimed for a contact proved another identity's", "contact", owner.ID)
				if err := b.m.setPeer(tx, owner, "", false); err != nil {
					return 0, err
				}
				if err := putJSON(tx, kContact(owner.ID), owner); err != nil {
					return 0, err
				}
			}
		}
		c, err := b.m.newContact(tx, pub, pid, api.RequestPending)
		if err != nil {
			return 0, err
		}
		if err := b.useContact(c.ID); err != nil {
			return 0, err
		}
		b.c.PeerProven = claims
		b.contactEvt, b.convDirty = true, true
	}
	sum := sha256.Sum256(d.Initial)
	if err := b.adopt(st, used, sum[:]); err != nil {
		return 0, err
	}
	if err := inbox.MarkSeen(tx, b.c.ID, d.ID); err != nil {
		return 0, err
	}
	return wire.AckStored, b.apply(content)
}

// prove records what a message that just decrypted under b.c's session proves about its
// peer: that the stream's peer is the contact's. Over the contact's own peer, the peer is
// proven; over another peer, the contact moves there only when its card names that peer
// and no other contact has proven it.
func (b *rxBatch) prove(card *wire.Card) error {
	if b.remote == "" {
		return nil
	}
	c, r := b.c, b.remote.String()
	owner, err := getString(b.tx, kContactByPeer(r))
	if err != nil {
		return err
	}
	if c.PeerID == r {
		if owner == c.ID && !c.PeerProven {
			c.PeerProven = true
		}
		return nil
	}
	if card == nil || card.PeerID != r {
		return nil
	}
	if owner != "" && owner != c.ID {
		o, err := loadContact(b.tx, owner)
		if err != nil {
			return err
		}
		if o.PeerProven {
			return nil
		}
		if err := b.m.setPeer(b.tx, o, "", false); err != nil {
			return err
		}
		if err := putJSON(b.tx, kContact(o.ID), o); err != nil {
			return err
		}
	}
	return b.m.setPeer(b.tx, c, r, true)
}

// switchTo makes contact cid the batch's contact, finishing the previous one.
func (b *rxBatch) switchTo(cid string) error {
	if err := b.flush(); err != nil {
		return err
	}
	return b.useContact(cid)
}

// reseal encrypts again, with the batch's new session, every outbox entry encrypted
// before, in queue order, keeping their envelope ids (the contact drops a copy it already
// has).
func (b *rxBatch) reseal() error {
	type entry struct {
		key []byte
		rec outboxRec
	}
	var es []entry
	err := b.tx.Iterate(store.IterOptions{Prefix: kOutboxPrefix(b.c.ID)}, func(k, v []byte) (bool, error) {
		var e entry
		if err := json.Unmarshal(v, &e.rec); err != nil {
			return false, err
		}
		if e.rec.Cipher == nil {
			return false, nil // this and what follows wait for the worker
		}
		e.key = k
		es = append(es, e)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, e := range es {
		err := b.m.sealEntry(b.c, b.ss.Current, &e.rec, e.rec.EnvID)
		if errors.Is(err, errOutboxGone) {
			if err := b.tx.Delete(e.key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := putJSON(b.tx, e.key, &e.rec); err != nil {
			return err
		}
	}
	return nil
}

// decrypt decrypts msg under the contact's sessions.
func (b *rxBatch) decrypt(msg []byte) ([]byte, error) {
	pt, current, err := b.ss.Decrypt(msg)
	if err == nil && current && b.c.Initial != nil && b.ss.Current.HasReceived() {
		b.c.Initial = nil // they answered: the session is confirmed
	}
	return pt, err
}

// apply applies one decrypted content.
func (b *rxBatch) apply(ct *wire.Content) error {
	c := b.c
	if !c.Answered {
		c.Answered = true
	}
	if ct.Card != nil && !c.Blocked {
		if err := b.adoptCard(ct.Card); err != nil {
			return err
		}
		if !c.NameSet && ct.Card.Name != "" && c.Name != ct.Card.Name {
			c.Name = ct.Card.Name
			b.contactEvt, b.convDirty = true, true
		}
	}
	// Sequence numbers: drop duplicates, remember what is ahead of a gap, ask for the rest.
	seqs := inbox.Seqs{Recv: c.RecvSeq, Ahead: c.Ahead}
	fresh, ask := seqs.Take(ct.Seq)
	if !fresh {
		return nil
	}
	c.RecvSeq, c.Ahead = seqs.Recv, seqs.Ahead
	if !ask.Empty() && !c.Blocked {
		if err := b.m.enqueue(b.tx, c, &wire.Content{Kind: wire.KindResend, From: ask.From, To: ask.To}, ""); err != nil {
			return err
		}
	}
	if c.Blocked {
		return nil // counted above, so no gap is ever asked for; otherwise dropped
	}
	ts, err := hlc.Parse(ct.TS)
	if err != nil {
		return nil // ParseContent checked it
	}
	_, _ = b.m.clock.Observe(ts)
	// The handler of each kind is registered in New (messenger.go, registerKinds).
	_, err = b.m.kinds.Dispatch(b, ct, ts)
	return err
}

// Handlers of the pairwise kinds, registered in the dispatch table (registerKinds).

// rxReceipt applies a delivery or read receipt to our messages it names.
func (b *rxBatch) rxReceipt(ct *wire.Content, _ hlc.Timestamp) error {
	status, level := api.StatusDelivered, 1
	if ct.Status == wire.ReceiptRead {
		status, level = api.StatusRead, 2
	}
	for _, id := range ct.IDs {
		r, err := b.target(id)
		if err != nil || r == nil || r.M.SenderID != b.m.uid {
			continue
		}
		if err := b.m.setStatusRec(b.tx, r, status, ""); err != nil {
			return err
		}
		if _, _, err := receipts.Note(b.tx, id, b.c.UserID, level, b.m.nowMS()); err != nil {
			return err // the receipt's time, for GET /v1/messages/{id}/receipts
		}
	}
	return nil
}

// rxEdit applies the contact's edit of its own message (the latest edit wins).
func (b *rxBatch) rxEdit(ct *wire.Content, ts hlc.Timestamp) error {
	r, err := b.target(ct.Target)
	if err != nil || r == nil || r.M.SenderID != b.c.UserID || r.M.Deleted || ct.TS <= r.EditTS {
		return err
	}
	r.M.Body, r.EditTS = ct.Body, ct.TS
	at := ts.Wall
	r.M.EditedAt = &at
	if err := b.m.putMsg(b.tx, r, false); err != nil {
		return err
	}
	_, err = b.m.ev.Append(b.tx, api.KindMessageUpdate, r.M)
	return err
}

// rxDelete deletes the contact's own message for everyone.
func (b *rxBatch) rxDelete(ct *wire.Content, _ hlc.Timestamp) error {
	r, err := b.target(ct.Target)
	if err != nil || r == nil || r.M.SenderID != b.c.UserID || r.M.Deleted {
		return err
	}
	return b.m.markDeleted(b.tx, r)
}

// rxReaction applies the contact's reaction (or its removal), in timestamp order.
func (b *rxBatch) rxReaction(ct *wire.Content, _ hlc.Timestamp) error {
	r, err := b.target(ct.Target)
	if err != nil || r == nil || r.M.Deleted {
		return err
	}
	if applyReaction(r, b.c.UserID, ct.Emoji, !ct.Remove, ct.TS) {
		if err := b.m.putMsg(b.tx, r, false); err != nil {
			return err
		}
		_, err = b.m.ev.Append(b.tx, api.KindMessageUpdate, r.M)
		return err
	}
	return nil
}

// rxGroup hands a group kind carried pairwise to the group receive path.
func (b *rxBatch) rxGroup(ct *wire.Content, _ hlc.Timestamp) error {
	return b.m.applyGroup(b.tx, b.c, ct)
}

// rxResend queues again what we sent the contact with the sequence numbers it asks for
// (what is still kept under sh/).
func (b *rxBatch) rxResend(ct *wire.Content, _ hlc.Timestamp) error {
	oc := outboxContact(b.c)
	oc.Sealer = b.m.outSealer()
	n, err := requeue(b.tx, &oc, ct.From, ct.To, b.m.nowMS())
	if err != nil {
		return err
	}
	b.c.OutSeq = oc.OutSeq
	if n > 0 {
		b.kicks = true
	}
	return nil
}

// target loads a message of this contact's conversation, or nil.
func (b *rxBatch) target(id string) (*msgRec, error) {
	r, err := b.m.loadMsg(b.tx, id)
	if errors.Is(err, api.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if r.M.ConversationID != b.c.ConvID {
		return nil, nil
	}
	return r, nil
}

// text stores a text message of the contact (once: a resend of one we have is dropped).
func (b *rxBatch) text(ct *wire.Content, ts hlc.Timestamp) error {
	if _, err := b.tx.Get(kMsg(ct.ID)); err == nil {
		return nil // already have it (a resend)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c, conv := b.c, b.conv
	var replyTo *string
	if ct.ReplyTo != "" {
		r := ct.ReplyTo
		replyTo = &r
	}
	msg := api.Message{
		ID: ct.ID, ConversationID: conv.ID, SenderID: c.UserID, Body: ct.Body, ReplyTo: replyTo,
		Attachments: b.m.attachReceived(b.tx, ct.ID, c.PeerID, c.Relays, ct.Attachments), SentAt: ts.Wall, ReceivedAt: b.m.nowMS(),
		Order:  hlc.OrderKey(ts, c.UserID+"-"+ct.ID),
		Status: api.StatusDelivered, Receipts: api.Receipts{Delivered: 1, Total: 1},
		Reactions: map[string][]string{}, DisappearAfterS: int64(ct.Expire),
	}
	if b.m.expiredOnArrival(msg.SentAt, msg.DisappearAfterS) { // expiry.go
		return b.m.putTombstone(b.tx, &msgRec{M: msg, ContactID: c.ID, Incoming: true})
	}
	if err := b.m.putMsg(b.tx, &msgRec{M: msg, ContactID: c.ID, Incoming: true}, true); err != nil {
		return err
	}
	if _, err := b.m.ev.Append(b.tx, api.KindMessage, msg); err != nil {
		return err
	}
	last := ""
	switch {
	case b.last != nil && b.last.ID == conv.LastMsgID:
		last = b.last.Order
	case conv.LastMsgID != "":
		if r, err := b.m.loadMsg(b.tx, conv.LastMsgID); err == nil {
			last = r.M.Order
		}
	}
	if msg.Order > last {
		conv.LastMsgID = msg.ID
		b.last = &msg
	}
	conv.UpdatedAt = max(conv.UpdatedAt, msg.ReceivedAt)
	if msg.Order > conv.ReadUpTo {
		conv.Unread++
	}
	b.convDirty = true
	b.delivered = append(b.delivered, msg.ID)
	return nil
}

// save writes the contact, its sessions and the prekeys.
func (b *rxBatch) save() error {
	tx, c := b.tx, b.c
	if b.ss.Current != nil {
		if err := b.m.ratchets.Save(tx, c.ID, sessions.Current, b.ss.Current); err != nil {
			return err
		}
	}
	if b.ss.Previous != nil {
		if err := b.m.ratchets.Save(tx, c.ID, sessions.Previous, b.ss.Previous); err != nil {
			return err
		}
	}
	if err := b.resp.Save(tx); err != nil {
		return err
	}
	if b.conv != nil {
		if err := putJSON(tx, kConv(b.conv.ID), b.conv); err != nil {
			return err
		}
	}
	if b.contactEvt {
		if _, err := b.m.ev.Append(tx, api.KindContact, b.m.apiContact(c)); err != nil {
			return err
		}
		b.contactEvt = false
	}
	if b.convDirty {
		if b.last != nil && b.last.ID == b.conv.LastMsgID && b.conv.Type == api.ConversationDirect {
			// Built from what is in hand (with the contact as this batch leaves it).
			cv, err := b.m.apiDirectConv(tx, b.conv, c, b.last)
			if err != nil {
				return err
			}
			if _, err := b.m.ev.Append(tx, api.KindConversation, cv); err != nil {
				return err
			}
		} else if err := b.m.emitConv(tx, b.conv.ID); err != nil {
			return err
		}
		b.convDirty = false
	}
	return putJSON(tx, kContact(c.ID), c)
}

// finish sends delivery receipts for the batch and saves everything.
func (b *rxBatch) finish() error { return b.flush() }

// flush sends delivery receipts for what the batch took from its current contact and
// saves it, so that another contact can take over the batch (nothing of one contact is
// ever sent to another).
func (b *rxBatch) flush() error {
	if b.c == nil {
		return nil
	}
	defer func() { b.delivered, b.kicks, b.last, b.lost = nil, false, nil, false }()
	if len(b.delivered) > 0 && !b.c.Blocked {
		for chunk := range slices.Chunk(b.delivered, wire.MaxReceiptID) {
			// Encrypted now with the batch's session, which save writes after.
			if _, err := b.m.enqueueWith(b.tx, b.c, &wire.Content{Kind: wire.KindReceipt, Status: wire.ReceiptDelivered, IDs: chunk}, "", b.ss.Current); err != nil {
				return err
			}
		}
	}
	if b.kicks {
		cid := b.c.ID
		b.tx.OnCommit(func() { b.m.kick(cid) })
	}
	if err := b.save(); err != nil {
		return err
	}
	if b.lost && !b.c.Blocked {
		return b.m.askAgain(b.tx, b.c.ID)
	}
	return nil
}

// askAgain answers mailbox mail of contact cid that did not decrypt, which no ack reports
// to the sender: it sets our session aside and asks, under the new session its first
// content starts, for everything after what we have (a resend request). The contact takes
// the new session, and sends again what we lack under it. A session of ours that the
// contact has not answered yet (Initial set) is new already: it carries the request.
func (m *Messenger) askAgain(tx *store.Tx, cid string) error {
	c, err := loadContact(tx, cid)
	if err != nil {
		return err
	}
	m.log.Info("mailbox mail did not decrypt: resend request under a new session", "contact", cid)
	if c.Initial == nil {
		if err := m.resetSession(tx, cid); err != nil {
			return err
		}
		if c, err = loadContact(tx, cid); err != nil {
			return err
		}
	}
	ask := inbox.AskAll(c.RecvSeq)
	return m.enqueue(tx, c, &wire.Content{Kind: wire.KindResend, From: ask.From, To: ask.To}, "")
}

// adoptCard takes the addresses and relays a contact's card announces: from the contact's
// own authenticated peer (prove bound it first), or, for mailbox mail, when the contact has no peer yet and the
// card's peer id belongs to no other contact (a card cannot take over another contact).
func (b *rxBatch) adoptCard(card *wire.Card) error {
	c := b.c
	switch {
	case b.remote != "" && card.PeerID == b.remote.String() && c.PeerID == card.PeerID:
	case b.remote == "" && card.PeerID == c.PeerID && c.PeerID != "":
	case b.remote == "" && c.PeerID == "" && card.PeerID != "":
		pid, err := peer.Decode(card.PeerID)
		if err != nil {
			return nil
		}
		owner, err := getString(b.tx, kContactByPeer(pid.String()))
		if err != nil || owner != "" {
			return err
		}
		c.PeerID = pid.String()
		if err := b.tx.Set(kContactByPeer(c.PeerID), []byte(c.ID)); err != nil {
			return err
		}
	default:
		return nil
	}
	c.Addrs, c.Relays = card.Addrs, card.Relays
	if pid, err := peer.Decode(c.PeerID); err == nil {
		b.m.addAddrs(pid, c.Addrs)
	}
	return nil
}
