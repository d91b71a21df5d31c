package inbox

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// batchNode is bob's side of the receiving path: a real store and event log, the real
// outbox behind Enqueue, and a text handler that counts what it is given.
type batchNode struct {
	st    *store.Store
	id    *identity.Identity
	hooks *Hooks
	texts []string // ids of the texts the handler took
	kicks []string
}

func newBatchNode(t *testing.T) *batchNode {
	t.Helper()
	st, _ := openStore(t)
	ev, err := eventlog.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	n := &batchNode{st: st, id: newID(t)}
	kinds := NewTable[*Batch](discard())
	if err := kinds.Register(wire.KindText, func(b *Batch, ct *wire.Content, ts hlc.Timestamp) error {
		n.texts = append(n.texts, ct.ID)
		b.Took(api.Message{ID: ct.ID, Order: hlc.OrderKey(ts, ct.ID), ReceivedAt: ts.Wall})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seq := 0
	n.hooks = &Hooks{
		Identity: n.id, Now: now, Log: discard(), Ratchets: &sessions.Cache{}, Clock: hlc.New(now),
		Events: ev, Kinds: kinds,
		InviteLive: func(*store.Tx, string) (bool, error) { return false, nil },
		NewContact: func(tx *store.Tx, pub *identity.PublicIdentity, pid, request string) (*sessions.Contact, error) {
			seq++
			c := &sessions.Contact{Record: contacts.Record{
				ID: "c" + string(rune('0'+seq)), UserID: string(pub.UserID()), Identity: pub.Bytes(),
				PeerID: pid, Request: request, ConvID: "v" + string(rune('0'+seq)),
			}}
			if err := history.PutConversation(tx, &history.Conversation{ID: c.ConvID, Type: api.ConversationDirect, ContactID: c.ID}); err != nil {
				return nil, err
			}
			if err := contacts.Create(tx, &c.Record); err != nil {
				return nil, err
			}
			return c, sessions.SaveChannel(tx, c.ID, &c.Channel)
		},
		IdentityChanged: func(*store.Tx, *sessions.Contact, *identity.PublicIdentity) error {
			t.Error("no identity change was due")
			return nil
		},
		Enqueue: func(tx *store.Tx, c *sessions.Contact, content *wire.Content, s0 *ratchet.State) (bool, error) {
			if content.TS == "" {
				content.TS = hlc.New(now).Now().String()
			}
			content.ID = "x1"
			oc := outbox.Contact{ID: c.ID, SendSeq: c.SendSeq, OutSeq: c.OutSeq, Initial: c.Initial}
			sealed, err := outbox.Enqueue(tx, &oc, content, "", now().UnixMilli(), s0)
			if err != nil {
				return false, err
			}
			c.SendSeq, c.OutSeq = oc.SendSeq, oc.OutSeq
			return sealed, sessions.SaveContact(tx, c)
		},
		ResetSession: func(*store.Tx, string) error { t.Error("no session reset was due"); return nil },
		Kick:         func(cid string) { n.kicks = append(n.kicks, cid) },
		AddAddrs:     func(peer.ID, []string) {},
		Contact:      func(c *sessions.Contact) api.Contact { return contacts.ToAPI(&c.Record, "", nil) },
		DirectConv: func(_ *store.Tx, cv *history.Conversation, _ *sessions.Contact, last *api.Message) (api.Conversation, error) {
			return api.Conversation{ID: cv.ID, LastMessage: last}, nil
		},
		EmitConv: func(*store.Tx, string) error { return nil },
	}
	return n
}

// deliver runs one stream batch of ds from remote in its own transaction.
func (n *batchNode) deliver(t *testing.T, remote peer.ID, ds ...*wire.Deliver) []wire.Ack {
	t.Helper()
	var acks []wire.Ack
	update(t, n.st, func(tx *store.Tx) error {
		var err error
		acks, err = n.hooks.Deliveries(tx, remote, ds)
		return err
	})
	return acks
}

func randomPeer(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// firstText is alice's first message to n: an initial message carrying a text with her
// card, which names cardPeer.
func firstText(t *testing.T, n *batchNode, alice *identity.Identity, id string, cardPeer peer.ID) *wire.Deliver {
	t.Helper()
	ct := &wire.Content{Kind: wire.KindText, ID: id, Seq: 1, TS: hlc.New(now).Now().String(), Body: "hi",
		Card: &wire.Card{Name: "alice", PeerID: cardPeer.String(), Addrs: []string{}, Relays: []string{}}}
	pt, err := ct.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, initial, msg := initiate(t, alice, bundleOf(t, n.st, n.id), string(pt))
	d := &wire.Deliver{Initial: initial, Message: msg}
	rand.Read(d.ID[:])
	return d
}

// TestBatchNewcomerBecomesARequestOnce: a new identity's first message, over the peer its
// card names, becomes one message request with that peer proven, one text, and one
// delivery receipt in the outbox; the same envelope delivered again is acknowledged and
// changes nothing.
func TestBatchNewcomerBecomesARequestOnce(t *testing.T) {
	t.Parallel()
	n := newBatchNode(t)
	alice, remote := newID(t), randomPeer(t)
	d := firstText(t, n, alice, "m1", remote)
	for round := range 2 {
		acks := n.deliver(t, remote, d)
		if len(acks) != 1 || acks[0].Status != wire.AckStored || acks[0].ID != d.ID {
			t.Fatalf("round %d: acks %+v, want one stored", round, acks)
		}
	}
	if len(n.texts) != 1 || n.texts[0] != "m1" {
		t.Fatalf("texts taken %v, want [m1] once", n.texts)
	}
	_ = n.st.View(func(tx *store.Tx) error {
		cid, err := contacts.ByUser(tx, string(alice.UserID()))
		if err != nil || cid == "" {
			t.Fatalf("no contact for alice (%v)", err)
		}
		c, err := sessions.LoadContact(tx, cid)
		if err != nil {
			t.Fatal(err)
		}
		if c.Request != api.RequestPending || c.PeerID != remote.String() || !c.PeerProven || c.Name != "alice" || c.RecvSeq != 1 {
			t.Errorf("contact %+v: want a pending request, proven at the stream's peer, named by the card, seq 1", c)
		}
		conv, err := history.GetConversation(tx, c.ConvID)
		if err != nil || conv.LastMsgID != "m1" || conv.Unread != 1 {
			t.Errorf("conversation %+v (%v): want m1 last and unread 1", conv, err)
		}
		items, err := outbox.Load(tx, cid, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 {
			t.Fatalf("outbox holds %d entries, want the one delivery receipt", len(items))
		}
		rc, err := wire.ParseContent(items[0].Entry.Content)
		if err != nil || rc.Kind != wire.KindReceipt || rc.Status != wire.ReceiptDelivered || len(rc.IDs) != 1 || rc.IDs[0] != "m1" {
			t.Errorf("outbox entry %+v (%v): want a delivery receipt for m1", rc, err)
		}
		if items[0].Entry.Cipher == nil {
			t.Error("the receipt was not encrypted with the batch's session")
		}
		return nil
	})
}

// TestBatchCardCannotTakeAnotherContactsPeer: an attacker's first message, over its own
// peer, with a card naming the proven peer of an existing contact, becomes a request of
// its own with no peer; the contact keeps its peer.
func TestBatchCardCannotTakeAnotherContactsPeer(t *testing.T) {
	t.Parallel()
	n := newBatchNode(t)
	carol, carolPeer := newID(t), randomPeer(t)
	if acks := n.deliver(t, carolPeer, firstText(t, n, carol, "m1", carolPeer)); acks[0].Status != wire.AckStored {
		t.Fatalf("carol's first message: %+v", acks)
	}
	mallory, malloryPeer := newID(t), randomPeer(t)
	if acks := n.deliver(t, malloryPeer, firstText(t, n, mallory, "m2", carolPeer)); acks[0].Status != wire.AckStored {
		t.Fatalf("mallory's first message: %+v", acks)
	}
	_ = n.st.View(func(tx *store.Tx) error {
		owner, err := contacts.ByPeer(tx, carolPeer.String())
		if err != nil {
			t.Fatal(err)
		}
		carolID, _ := contacts.ByUser(tx, string(carol.UserID()))
		if owner == "" || owner != carolID {
			t.Errorf("carol's peer belongs to %q, want carol's contact %q", owner, carolID)
		}
		mid, _ := contacts.ByUser(tx, string(mallory.UserID()))
		m, err := sessions.LoadContact(tx, mid)
		if err != nil {
			t.Fatal(err)
		}
		if m.PeerID != "" || m.PeerProven {
			t.Errorf("mallory's contact took peer %q (proven %v), want none", m.PeerID, m.PeerProven)
		}
		return nil
	})
}

// TestBatchStrangerIsUndecryptable: a ratchet message from a peer that is no contact's,
// with no initial message, is undecryptable: no contact, no handler, nothing queued.
func TestBatchStrangerIsUndecryptable(t *testing.T) {
	t.Parallel()
	n := newBatchNode(t)
	d := &wire.Deliver{Message: []byte("not a ratchet message")}
	rand.Read(d.ID[:])
	acks := n.deliver(t, randomPeer(t), d)
	if len(acks) != 1 || acks[0].Status != wire.AckUndecryptable {
		t.Fatalf("acks %+v, want one undecryptable", acks)
	}
	if len(n.texts) != 0 || len(n.kicks) != 0 {
		t.Errorf("texts %v kicks %v, want none", n.texts, n.kicks)
	}
	_ = n.st.View(func(tx *store.Tx) error {
		count := 0
		if err := contacts.List(tx, func(*contacts.Record) (bool, error) { count++; return true, nil }); err != nil {
			t.Fatal(err)
		}
		if count != 0 {
			t.Errorf("%d contacts, want none", count)
		}
		return nil
	})
}

// TestBatchResendQueuesWhatHistoryKeeps: a resend request queues again the sequence
// numbers the resend history still holds, skips those it lost, and wakes the contact's
// worker once the transaction commits.
func TestBatchResendQueuesWhatHistoryKeeps(t *testing.T) {
	t.Parallel()
	n := newBatchNode(t)
	var cid string
	update(t, n.st, func(tx *store.Tx) error {
		c, err := n.hooks.NewContact(tx, n.id.Public(), "", api.RequestAccepted)
		if err != nil {
			return err
		}
		cid = c.ID
		for _, seq := range []uint64{1, 3} {
			b, err := (&wire.Content{Kind: wire.KindText, ID: fmt.Sprint("m", seq), Seq: seq, TS: hlc.New(now).Now().String(), Body: fmt.Sprint("content ", seq)}).Marshal()
			if err != nil {
				return err
			}
			if err := tx.Set(outbox.SentKey(cid, seq), b); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, n.st, func(tx *store.Tx) error {
		b := n.hooks.NewBatch(tx, "")
		if err := b.useContact(cid); err != nil {
			return err
		}
		if err := b.Resend(&wire.Content{Kind: wire.KindResend, From: 1, To: 3}); err != nil {
			return err
		}
		if err := b.Finish(); err != nil {
			return err
		}
		if len(n.kicks) != 0 {
			t.Error("the worker was woken before the commit")
		}
		return nil
	})
	if len(n.kicks) != 1 || n.kicks[0] != cid {
		t.Errorf("kicks %v, want [%s] once", n.kicks, cid)
	}
	_ = n.st.View(func(tx *store.Tx) error {
		items, err := outbox.Load(tx, cid, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, it := range items {
			seqs = append(seqs, it.Entry.Seq)
		}
		if len(seqs) != 2 || seqs[0] != 1 || seqs[1] != 3 {
			t.Errorf("requeued seqs %v, want [1 3]", seqs)
		}
		c, err := sessions.LoadContact(tx, cid)
		if err != nil || c.OutSeq != 2 {
			t.Errorf("contact out seq %d (%v), want 2", c.OutSeq, err)
		}
		return nil
	})
}
