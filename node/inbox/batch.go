package inbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devices"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Hooks is what a receiving batch is given of the rest of the node: the node's identity,
// clocks and session cache, the dispatch table of content kinds, and functions over the
// batch's transaction for what other packages own (creating a contact, an identity
// change, the outbox, the events a UI reads). The façade fills it in once; a Hooks holds
// no state of its own, and every batch of every transaction shares it.
type Hooks struct {
	Identity *identity.Identity
	Now      func() time.Time
	Log      *slog.Logger
	Ratchets *sessions.Cache
	Clock    *hlc.Clock    // observes each content's timestamp
	Events   *eventlog.Log // contact and conversation events
	Kinds    *Table[*Batch]
	// Sealer opens disappearing contents sealed at rest in the outbox (outbox.Sealer); nil:
	// none are.
	Sealer outbox.Sealer

	// InviteLive reports whether id names a live invite of ours: a request naming any
	// other is refused.
	InviteLive func(tx *store.Tx, id string) (bool, error)
	// NewContact creates the contact of identity pub, at peer pid ("" when none is
	// proven), in request state request.
	NewContact func(tx *store.Tx, pub *identity.PublicIdentity, pid, request string) (*sessions.Contact, error)
	// IdentityChanged moves contact c to identity pub, with the warning.
	IdentityChanged func(tx *store.Tx, c *sessions.Contact, pub *identity.PublicIdentity) error
	// Enqueue queues content for contact c and saves c; with s0, c's current session as
	// the batch holds it, it may encrypt at once and reports whether it did.
	Enqueue func(tx *store.Tx, c *sessions.Contact, content *wire.Content, s0 *ratchet.State) (bool, error)
	// ResetSession sets contact cid's session aside: the next content starts a new one.
	ResetSession func(tx *store.Tx, cid string) error
	// Kick wakes contact cid's delivery worker (called once the transaction committed).
	Kick func(cid string)
	// AddAddrs tells the host addresses of peer pid.
	AddAddrs func(pid peer.ID, addrs []string)
	// Contact is c as the local API shows it (for its event).
	Contact func(c *sessions.Contact) api.Contact
	// DirectConv is direct conversation cv with contact c and last message last, as the
	// local API shows it.
	DirectConv func(tx *store.Tx, cv *history.Conversation, c *sessions.Contact, last *api.Message) (api.Conversation, error)
	// EmitConv appends conversation id's current state as an event.
	EmitConv func(tx *store.Tx, id string) error

	// Linked devices (node/devices). TakeList takes a signed device list (a card's, a
	// devices content's) for the account it names, when it verifies under the key held;
	// OwnKinds dispatches what our own other devices send.
	TakeList func(tx *store.Tx, raw []byte) error
	OwnKinds *Table[*Batch]
}

// Batch is the state of one receiving transaction: the contact whose messages it is
// taking, with its sessions and conversation, what it stored (for delivery receipts and
// the conversation's event) and what is owed once it is done. A batch takes one contact's
// messages at a time; before another contact takes over, flush sends the first one's
// receipts and saves it, so nothing of one contact is ever sent to another.
type Batch struct {
	h      *Hooks
	tx     *store.Tx
	remote peer.ID // the authenticated peer that delivered, or "" for mailbox mail
	// sealedFrom is the sender a mailbox envelope authenticated (nil for direct delivery).
	sealedFrom *sealed.Opened

	c    *sessions.Contact
	ss   Sessions   // c's sessions
	resp *Responder // answers initial messages with the node's prekeys
	conv *history.Conversation

	delivered  []string
	last       *api.Message // the conversation's last message, if this batch stored it
	convDirty  bool
	contactEvt bool
	kicks      bool
	// lost: mailbox mail of this contact did not decrypt (no ack can tell the sender).
	lost bool
}

// NewBatch starts the receiving batch of transaction tx: remote is the peer that
// delivered, or "" for mailbox mail.
func (h *Hooks) NewBatch(tx *store.Tx, remote peer.ID) *Batch {
	return &Batch{h: h, tx: tx, remote: remote, resp: &Responder{ID: h.Identity, Now: h.Now, Log: h.Log}}
}

// Deliveries takes, in transaction tx, the Deliver frames of one message stream from peer
// remote, and returns their acknowledgements (valid once tx commits).
func (h *Hooks) Deliveries(tx *store.Tx, remote peer.ID, ds []*wire.Deliver) ([]wire.Ack, error) {
	acks := make([]wire.Ack, len(ds))
	b := h.NewBatch(tx, remote)
	cid, err := contacts.ByPeer(tx, remote.String())
	if err == nil && cid == "" {
		cid, err = devices.ChannelByPeer(tx, remote.String()) // a listed device's channel
	}
	if err != nil {
		return nil, err
	}
	if cid != "" {
		if err := b.useContact(cid); err != nil {
			return nil, err
		}
	}
	for i, d := range ds {
		st, err := b.one(d)
		if err != nil {
			return nil, err
		}
		acks[i] = wire.Ack{ID: d.ID, Status: st}
	}
	return acks, b.Finish()
}

// SealedBatch starts the batch of one sender's mailbox mail in transaction tx: sender is
// the user id the first envelope's sealing names.
func (h *Hooks) SealedBatch(tx *store.Tx, sender string, from *sealed.Opened) (*Batch, error) {
	b := h.NewBatch(tx, "")
	cid, err := contacts.ByUser(tx, sender)
	if err == nil && cid == "" {
		cid, err = devices.ChannelByKey(tx, sender) // mail sealed by a listed device's key
	}
	if err != nil {
		return nil, err
	}
	if cid != "" {
		if err := b.useContact(cid); err != nil {
			return nil, err
		}
		if known, err := identity.ParsePublic(b.c.Identity); err != nil || !from.From(known) {
			b.c = nil // a user id collision cannot happen; refuse rather than guess
		}
	}
	return b, nil
}

// Sealed takes one mailbox mail of the batch's sender.
func (b *Batch) Sealed(it *Mail) (wire.AckStatus, error) {
	b.sealedFrom = it.From
	return b.one(it.Deliver)
}

// Tx is the batch's transaction.
func (b *Batch) Tx() *store.Tx { return b.tx }

// Contact is the contact whose content is being applied: a handler may change it (the
// batch saves it).
func (b *Batch) Contact() *sessions.Contact { return b.c }

// Conversation is the contact's direct conversation: a handler may change it (the batch
// saves it).
func (b *Batch) Conversation() *history.Conversation { return b.conv }

// ConversationChanged makes the batch report the conversation to the UIs when it is done.
func (b *Batch) ConversationChanged() { b.convDirty = true }

// Kick makes the batch wake the contact's delivery worker once the transaction commits.
func (b *Batch) Kick() { b.kicks = true }

// Took records msg, a message of the contact just stored in its conversation: the
// conversation's last message, activity and unread count follow, and the batch sends a
// delivery receipt for it.
func (b *Batch) Took(msg api.Message) {
	conv := b.conv
	last := ""
	switch {
	case b.last != nil && b.last.ID == conv.LastMsgID:
		last = b.last.Order
	case conv.LastMsgID != "":
		if r, err := history.GetMessage(b.tx, nil, conv.LastMsgID); err == nil { // its order (no content)
			last = r.Order
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
}

func (b *Batch) useContact(cid string) error {
	c, err := sessions.LoadContact(b.tx, cid)
	if err != nil {
		return err
	}
	b.c = c
	if b.ss.Current, err = b.h.Ratchets.Load(b.tx, cid, sessions.Current); err != nil {
		return err
	}
	if b.ss.Previous, err = b.h.Ratchets.Load(b.tx, cid, sessions.Previous); err != nil {
		return err
	}
	if c.Own() {
		b.conv = nil // a channel to one of our own devices has no conversation
		return nil
	}
	b.conv, err = history.GetConversation(b.tx, c.ConvID)
	return err
}

// one handles one Deliver and returns its ack status; an error aborts the batch.
//
// Nothing about a contact changes before a message has decrypted under its session: an
// initial message names its initiator's identity, but anyone can copy a public identity
// into one, and only the key exchange (which needs that identity's private keys) proves it.
func (b *Batch) one(d *wire.Deliver) (wire.AckStatus, error) {
	var before string
	if b.c != nil {
		before = b.c.Ch()
	}
	st, err := b.take(d)
	if err != nil {
		return 0, err
	}
	if st == wire.AckUndecryptable && b.sealedFrom != nil && b.c != nil {
		b.lost = true // b.c is the sender the envelope authenticated (SealedBatch, take)
	}
	if st != wire.AckStored && b.remote != "" && b.c != nil && b.c.Ch() != before {
		// An initial message naming another contact's identity proved nothing: what else
		// this stream brings is its own peer's again.
		if err := b.flush(); err != nil {
			return 0, err
		}
		b.c, b.ss, b.conv = nil, Sessions{}, nil
		if before != "" {
			if err := b.useContact(before); err != nil {
				return 0, err
			}
		}
	}
	return st, nil
}

// take is one without the bookkeeping of undecryptable mailbox mail.
func (b *Batch) take(d *wire.Deliver) (wire.AckStatus, error) {
	tx := b.tx
	if d.Initial != nil {
		pub, err := pqxdh.InitiatorIdentity(d.Initial)
		if err != nil {
			return wire.AckUndecryptable, nil
		}
		if b.sealedFrom != nil && !b.sealedFrom.From(pub) {
			return wire.AckUndecryptable, nil // sealed by someone else than the session's initiator
		}
		if b.c == nil || !sameKey(b.c.Identity, pub) {
			cid, err := contacts.ByUser(tx, string(pub.UserID()))
			if err == nil && cid == "" {
				cid, err = devices.ChannelByKey(tx, string(pub.UserID())) // a listed device's key
			}
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
	if b.c.Chan != "" && b.remote != "" && b.c.PeerID != b.remote.String() {
		// A device's messages come from the peer its account's signed list names: another
		// peer sending as that device (a copied device key) is refused.
		b.h.Log.Info("a peer sent as a device it is not listed as", "channel", b.c.Chan)
		return wire.AckUndecryptable, nil
	}
	if seen, err := Seen(tx, b.c.Ch(), d.ID); err != nil || seen {
		return wire.AckStored, err
	}
	// A blocked contact's messages are decrypted (so the session and the sequence numbers
	// move on) and then dropped in apply; the Ack says stored, as for anyone else, so the
	// sender sees "sent" and never "delivered" — and is not told that they are blocked.
	// Nothing sent while blocked is asked for again after an unblock.
	var pt []byte
	sum := sha256.Sum256(d.Initial)
	if d.Initial != nil && !bytes.Equal(sum[:], b.c.Seen) {
		st, used, p, err := b.resp.Respond(tx, d.Initial, d.Message)
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
			b.h.Log.Info("undecryptable message", "contact", b.c.ID, "err", err)
			return wire.AckUndecryptable, nil
		}
	}
	if err := MarkSeen(tx, b.c.Ch(), d.ID); err != nil {
		return 0, err
	}
	content, err := wire.ParseContent(pt)
	if err != nil {
		b.h.Log.Info("malformed content", "contact", b.c.ID, "err", err)
		return wire.AckRefused, nil
	}
	if err := b.prove(content.Card); err != nil {
		return 0, err
	}
	return wire.AckStored, b.apply(content)
}

// adopt installs st, the session an initial message (hash sum) started and whose first
// message decrypted, as b.c's, and uses up the one-time prekeys it took.
func (b *Batch) adopt(st *ratchet.State, used []uint32, sum []byte) error {
	if err := b.resp.Consume(used); err != nil {
		return err
	}
	b.c.Seen = sum
	if b.ss.Take(st) {
		b.c.Initial = nil
		// What waits in the outbox was encrypted for a session they have left.
		return Reseal(b.tx, b.h.Sealer, b.c, b.ss.Current)
	}
	return nil
}

// switchTo makes contact cid the batch's contact, finishing the previous one.
func (b *Batch) switchTo(cid string) error {
	if err := b.flush(); err != nil {
		return err
	}
	return b.useContact(cid)
}

// decrypt decrypts msg under the contact's sessions.
func (b *Batch) decrypt(msg []byte) ([]byte, error) {
	pt, current, err := b.ss.Decrypt(msg)
	if err == nil && current && b.c.Initial != nil && b.ss.Current.HasReceived() {
		b.c.Initial = nil // they answered: the session is confirmed
	}
	return pt, err
}

// apply applies one decrypted content.
func (b *Batch) apply(ct *wire.Content) error {
	c := b.c
	if !c.Answered {
		c.Answered = true
	}
	if ct.Card != nil && len(ct.Card.Devices) > 0 && b.h.TakeList != nil {
		if err := b.h.TakeList(b.tx, ct.Card.Devices); err != nil {
			return err
		}
	}
	// A device's card says nothing its account's signed list does not.
	if ct.Card != nil && !c.Blocked && c.Chan == "" {
		if err := b.adoptCard(ct.Card); err != nil {
			return err
		}
		if !c.NameSet && ct.Card.Name != "" && c.Name != ct.Card.Name {
			c.Name = ct.Card.Name
			b.contactEvt, b.convDirty = true, true
		}
	}
	// Sequence numbers: drop duplicates, remember what is ahead of a gap, ask for the rest.
	seqs := Seqs{Recv: c.RecvSeq, Ahead: c.Ahead}
	fresh, ask := seqs.Take(ct.Seq)
	if !fresh {
		return nil
	}
	c.RecvSeq, c.Ahead = seqs.Recv, seqs.Ahead
	if !ask.Empty() && !c.Blocked {
		if _, err := b.h.Enqueue(b.tx, c, &wire.Content{Kind: wire.KindResend, From: ask.From, To: ask.To}, nil); err != nil {
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
	_, _ = b.h.Clock.Observe(ts)
	if c.Own() {
		if b.h.OwnKinds == nil {
			return nil
		}
		_, err = b.h.OwnKinds.Dispatch(b, ct, ts) // one of our own devices
		return err
	}
	// The handler of each kind is registered by the façade in its Kinds table.
	_, err = b.h.Kinds.Dispatch(b, ct, ts)
	return err
}

// save writes the contact, its sessions and the prekeys.
func (b *Batch) save() error {
	tx, c := b.tx, b.c
	if b.ss.Current != nil {
		if err := b.h.Ratchets.Save(tx, c.Ch(), sessions.Current, b.ss.Current); err != nil {
			return err
		}
	}
	if b.ss.Previous != nil {
		if err := b.h.Ratchets.Save(tx, c.Ch(), sessions.Previous, b.ss.Previous); err != nil {
			return err
		}
	}
	if err := b.resp.Save(tx); err != nil {
		return err
	}
	if b.conv != nil {
		if err := history.PutConversation(tx, b.conv); err != nil {
			return err
		}
	}
	if b.contactEvt {
		if _, err := b.h.Events.Append(tx, api.KindContact, b.h.Contact(c)); err != nil {
			return err
		}
		b.contactEvt = false
	}
	if b.convDirty {
		if b.last != nil && b.last.ID == b.conv.LastMsgID && b.conv.Type == api.ConversationDirect {
			// Built from what is in hand (with the contact as this batch leaves it).
			cv, err := b.h.DirectConv(tx, b.conv, c, b.last)
			if err != nil {
				return err
			}
			if _, err := b.h.Events.Append(tx, api.KindConversation, cv); err != nil {
				return err
			}
		} else if err := b.h.EmitConv(tx, b.conv.ID); err != nil {
			return err
		}
		b.convDirty = false
	}
	return sessions.SaveContact(tx, c)
}

// Finish sends delivery receipts for the batch and saves everything.
func (b *Batch) Finish() error { return b.flush() }

// flush sends delivery receipts for what the batch took from its current contact and
// saves it, so that another contact can take over the batch (nothing of one contact is
// ever sent to another).
func (b *Batch) flush() error {
	if b.c == nil {
		return nil
	}
	defer func() { b.delivered, b.kicks, b.last, b.lost = nil, false, nil, false }()
	if len(b.delivered) > 0 && !b.c.Blocked {
		for chunk := range slices.Chunk(b.delivered, wire.MaxReceiptID) {
			// Encrypted now with the batch's session, which save writes after.
			if _, err := b.h.Enqueue(b.tx, b.c, &wire.Content{Kind: wire.KindReceipt, Status: wire.ReceiptDelivered, IDs: chunk}, b.ss.Current); err != nil {
				return err
			}
		}
	}
	if b.kicks {
		cid, kick := b.c.Ch(), b.h.Kick
		b.tx.OnCommit(func() { kick(cid) })
	}
	if err := b.save(); err != nil {
		return err
	}
	if b.lost && !b.c.Blocked {
		return b.h.askAgain(b.tx, b.c.Ch())
	}
	return nil
}

// askAgain answers mailbox mail of contact cid that did not decrypt, which no ack reports
// to the sender: it sets our session aside and asks, under the new session its first
// content starts, for everything after what we have (a resend request). The contact takes
// the new session, and sends again what we lack under it. A session of ours that the
// contact has not answered yet (Initial set) is new already: it carries the request.
func (h *Hooks) askAgain(tx *store.Tx, cid string) error {
	c, err := sessions.LoadContact(tx, cid)
	if err != nil {
		return err
	}
	h.Log.Info("mailbox mail did not decrypt: resend request under a new session", "contact", cid)
	if c.Initial == nil {
		if err := h.ResetSession(tx, cid); err != nil {
			return err
		}
		if c, err = sessions.LoadContact(tx, cid); err != nil {
			return err
		}
	}
	ask := AskAll(c.RecvSeq)
	_, err = h.Enqueue(tx, c, &wire.Content{Kind: wire.KindResend, From: ask.From, To: ask.To}, nil)
	return err
}
