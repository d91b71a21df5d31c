package messenger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// inboundBudget bounds the bytes of frames one stream may have read but not yet processed.
const inboundBudget = 8 << 20

// maxAhead bounds the sequence numbers remembered beyond a gap.
const maxAhead = 4096

// frameTimeout bounds the wait for each frame on a message stream, and the writing of its
// acknowledgements. A sender keeps an idle stream open for idleLinger only, and gives up
// on acknowledgements after ackTimeout, so an honest stream never waits this long.
const frameTimeout = ackTimeout

// handleMessages receives Deliver frames from a peer, stores what they carry in batches
// and acknowledges each once durable.
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

	remote := s.Conn().RemotePeer()
	// Frames read ahead of processing are bounded in bytes too, not just in number.
	budget := semaphore.NewWeighted(inboundBudget)
	frames := make(chan []byte, window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(frames)
		r := bufio.NewReaderSize(s, 64<<10)
		for {
			// Every frame, and the pause before it, has a deadline: a peer that stalls
			// (one byte, then nothing) holds the stream no longer than that.
			_ = s.SetReadDeadline(time.Now().Add(frameTimeout))
			b, err := wire.ReadFrame(r, nil)
			if err != nil {
				return
			}
			if budget.Acquire(ctx, int64(len(b))) != nil {
				return
			}
			select {
			case frames <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		s.Reset()
		<-done
	}()
	w := bufio.NewWriterSize(s, 16<<10)
	for {
		var batch [][]byte
		select {
		case b, ok := <-frames:
			if !ok {
				return
			}
			batch = append(batch, b)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < window {
			select {
			case b, ok := <-frames:
				if !ok {
					break drain
				}
				batch = append(batch, b)
			default:
				break drain
			}
		}
		ds := make([]*wire.Deliver, 0, len(batch))
		for _, b := range batch {
			d, err := wire.ParseDeliver(b)
			if err != nil {
				m.log.Info("malformed frame from peer", "peer", remote, "err", err)
				return
			}
			ds = append(ds, d)
		}
		acks, err := m.receive(ctx, remote, ds)
		held := 0
		for _, b := range batch {
			held += len(b)
		}
		budget.Release(int64(held))
		if err != nil {
			m.log.Error("receiving", "peer", remote, "err", err)
			return
		}
		_ = s.SetWriteDeadline(time.Now().Add(frameTimeout))
		for _, a := range acks {
			if err := wire.WriteFrame(w, wire.AppendAck(nil, a)); err != nil {
				return
			}
		}
		if err := w.Flush(); err != nil {
			return
		}
	}
}

// rxBatch is the state of one receiving transaction.
type rxBatch struct {
	m      *Messenger
	tx     *store.Tx
	remote peer.ID // the authenticated peer that delivered, or "" for mailbox mail
	// sealedFrom is the sender a mailbox envelope authenticated (nil for direct delivery).
	sealedFrom *sealed.Opened

	c      *contactRec
	s0, s1 *ratchet.State
	ps     *prekey.Store
	psUsed bool
	conv   *convRec

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
		b := &rxBatch{m: m, tx: tx, remote: remote}
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

func (b *rxBatch) useContact(cid string) error {
	c, err := loadContact(b.tx, cid)
	if err != nil {
		return err
	}
	b.c = c
	if b.s0, err = b.m.ratchets.Load(b.tx, cid, sessions.Current); err != nil {
		return err
	}
	if b.s1, err = b.m.ratchets.Load(b.tx, cid, sessions.Previous); err != nil {
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
		b.c, b.s0, b.s1, b.conv = nil, nil, nil, nil
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
	if _, err := tx.Get(kSeen(b.c.ID, d.ID[:])); err == nil {
		return wire.AckStored, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
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
		pt, err = b.s0Decrypt(d.Message)
		if errors.Is(err, ratchet.ErrReplay) {
			return wire.AckStored, nil
		}
		if err != nil {
			b.m.log.Info("undecryptable message", "contact", b.c.ID, "err", err)
			return wire.AckUndecryptable, nil
		}
	}
	if err := tx.Set(kSeen(b.c.ID, d.ID[:]), nil); err != nil {
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
	if b.ps == nil {
		ps, err := sessions.LoadPrekeys(b.tx, b.m.id, b.m.now())
		if err != nil {
			return nil, nil, nil, err
		}
		b.ps = ps
	}
	st, used, err = pqxdh.Respond(b.m.id, b.ps, d.Initial, b.m.now())
	if err != nil {
		b.m.log.Info("initial message refused", "err", err)
		return nil, nil, nil, nil
	}
	if pt, err = st.Decrypt(d.Message); err != nil {
		b.m.log.Info("initial message undecryptable", "err", err)
		return nil, nil, nil, nil
	}
	return st, used, pt, nil
}

// adopt installs st, the session an initial message (hash sum) started and whose first
// message decrypted, as b.c's, and uses up the one-time prekeys it took.
func (b *rxBatch) adopt(st *ratchet.State, used []uint32, sum []byte) error {
	if err := b.ps.Consume(used); err != nil {
		return err
	}
	b.psUsed = true
	b.c.Seen = sum
	switch {
	case b.s0 == nil:
		b.s0 = st
	case b.s0.IsInitiator() && !b.s0.HasReceived():
		// Both started a session at once: both sides keep the same one.
		if pqxdh.Resolve(b.s0, st) == st {
			b.s0, b.s1 = st, b.s0
		} else {
			b.s1 = st
		}
	default:
		// They started over (a new session replaces the old one).
		b.s0, b.s1 = st, b.s0
	}
	if b.s0 == st {
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
	if err := tx.Set(kSeen(b.c.ID, d.ID[:]), nil); err != nil {
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
		if err := sealEntry(b.c, b.s0, &e.rec, e.rec.EnvID); err != nil {
			return err
		}
		if err := putJSON(b.tx, e.key, &e.rec); err != nil {
			return err
		}
	}
	return nil
}

func (b *rxBatch) s0Decrypt(msg []byte) ([]byte, error) {
	if b.s0 == nil {
		return nil, errors.New("no session")
	}
	pt, err := b.s0.Decrypt(msg)
	if err == nil {
		if b.c.Initial != nil && b.s0.HasReceived() {
			b.c.Initial = nil // they answered: the session is confirmed
		}
		return pt, nil
	}
	if b.s1 != nil {
		if pt, err1 := b.s1.Decrypt(msg); err1 == nil {
			return pt, nil
		}
	}
	return nil, err
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
	if ct.Seq <= c.RecvSeq || slices.Contains(c.Ahead, ct.Seq) {
		return nil
	}
	if ct.Seq == c.RecvSeq+1 {
		c.RecvSeq++
		for len(c.Ahead) > 0 {
			slices.Sort(c.Ahead)
			if c.Ahead[0] != c.RecvSeq+1 {
				break
			}
			c.RecvSeq++
			c.Ahead = c.Ahead[1:]
		}
	} else {
		from := c.RecvSeq + 1
		if len(c.Ahead) > 0 {
			from = max(from, slices.Max(c.Ahead)+1)
		}
		c.Ahead = append(c.Ahead, ct.Seq)
		if len(c.Ahead) > maxAhead {
			// Give up on the oldest gap rather than remember forever.
			slices.Sort(c.Ahead)
			c.RecvSeq, c.Ahead = c.Ahead[0], c.Ahead[1:]
		}
		if from < ct.Seq && !c.Blocked {
			to := min(ct.Seq-1, from+wire.MaxReceiptID)
			if err := b.m.enqueue(b.tx, c, &wire.Content{Kind: wire.KindResend, From: from, To: to}, ""); err != nil {
				return err
			}
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
	switch ct.Kind {
	case wire.KindText:
		return b.text(ct, ts)
	case wire.KindReceipt:
		status := api.StatusDelivered
		if ct.Status == wire.ReceiptRead {
			status = api.StatusRead
		}
		for _, id := range ct.IDs {
			r, err := b.target(id)
			if err != nil || r == nil || r.M.SenderID != b.m.uid {
				continue
			}
			if err := b.m.setStatusRec(b.tx, r, status, ""); err != nil {
				return err
			}
		}
	case wire.KindEdit:
		r, err := b.target(ct.Target)
		if err != nil || r == nil || r.M.SenderID != c.UserID || r.M.Deleted || ct.TS <= r.EditTS {
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
	case wire.KindDelete:
		r, err := b.target(ct.Target)
		if err != nil || r == nil || r.M.SenderID != c.UserID || r.M.Deleted {
			return err
		}
		return b.m.markDeleted(b.tx, r)
	case wire.KindReaction:
		r, err := b.target(ct.Target)
		if err != nil || r == nil || r.M.Deleted {
			return err
		}
		if applyReaction(r, c.UserID, ct.Emoji, !ct.Remove, ct.TS) {
			if err := b.m.putMsg(b.tx, r, false); err != nil {
				return err
			}
			_, err = b.m.ev.Append(b.tx, api.KindMessageUpdate, r.M)
			return err
		}
	case wire.KindGroupOps, wire.KindGroupSync, wire.KindGroupKey, wire.KindGroupMsg, wire.KindGroupResend, wire.KindGroupReceipt:
		return b.m.applyGroup(b.tx, c, ct)
	case wire.KindResend:
		for seq := ct.From; seq <= ct.To; seq++ {
			raw, err := b.tx.Get(kSent(c.ID, seq))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			c.OutSeq++
			rec := outboxRec{Seq: seq, Content: raw, Created: b.m.nowMS()}
			if err := putJSON(b.tx, kOutbox(c.ID, c.OutSeq), &rec); err != nil {
				return err
			}
			b.kicks = true
		}
	}
	return nil
}

// target loads a message of this contact's conversation, or nil.
func (b *rxBatch) target(id string) (*msgRec, error) {
	r, err := loadMsg(b.tx, id)
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
		Attachments: []api.Attachment{}, SentAt: ts.Wall, ReceivedAt: b.m.nowMS(),
		Order:  hlc.OrderKey(ts, c.UserID+"-"+ct.ID),
		Status: api.StatusDelivered, Receipts: api.Receipts{Delivered: 1, Total: 1},
		Reactions: map[string][]string{},
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
		if r, err := loadMsg(b.tx, conv.LastMsgID); err == nil {
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
	if b.s0 != nil {
		if err := b.m.ratchets.Save(tx, c.ID, sessions.Current, b.s0); err != nil {
			return err
		}
	}
	if b.s1 != nil {
		if err := b.m.ratchets.Save(tx, c.ID, sessions.Previous, b.s1); err != nil {
			return err
		}
	}
	if b.psUsed {
		if err := sessions.SavePrekeys(tx, b.ps); err != nil {
			return err
		}
		b.psUsed = false
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
			if _, err := b.m.enqueueWith(b.tx, b.c, &wire.Content{Kind: wire.KindReceipt, Status: wire.ReceiptDelivered, IDs: chunk}, "", b.s0); err != nil {
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
	return m.enqueue(tx, c, &wire.Content{Kind: wire.KindResend, From: c.RecvSeq + 1, To: c.RecvSeq + wire.MaxReceiptID}, "")
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
