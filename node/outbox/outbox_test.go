package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/pqxdh"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/crypto/ratchet"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// ts is a timestamp a content can carry.
func ts() string { return hlc.New(time.Now).Now().String() }

// book is an address book in the store (tc/<id>, the Contact as JSON) with message
// statuses beside it (ts/<msg id>), as node/messenger keeps its own.
type book struct{}

func kTestContact(cid string) []byte { return []byte("tc/" + cid) }
func kTestStatus(id string) []byte   { return []byte("ts/" + id) }

func (book) Contact(tx *store.Tx, cid string) (Contact, error) {
	var c Contact
	ok, err := store.GetJSON(tx, kTestContact(cid), &c)
	if err == nil && !ok {
		err = fmt.Errorf("no contact %q", cid)
	}
	return c, err
}

func (b book) ForgetInitial(tx *store.Tx, cid string) error {
	c, err := b.Contact(tx, cid)
	if err != nil {
		return err
	}
	c.Initial = nil
	return store.PutJSON(tx, kTestContact(cid), &c)
}

type status struct{ Status, Reason string }

func setStatus(tx *store.Tx, id, st, reason string) error {
	var old status
	if _, err := store.GetJSON(tx, kTestStatus(id), &old); err != nil {
		return err
	}
	if old.Status == api.StatusFailed {
		return nil
	}
	return store.PutJSON(tx, kTestStatus(id), status{st, reason})
}

// pair is alice's store with contact bob and a PQXDH session to him, and bob's side of it.
type pair struct {
	st       *store.Store
	ratchets *sessions.Cache
	alice    *identity.Identity
	initial  []byte
	bobID    *identity.Identity
	bobKeys  *prekey.Store
}

func newPair(t *testing.T) *pair {
	t.Helper()
	st, err := store.Create(t.TempDir(), []byte("outbox test passphrase"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	bob, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bobKeys, err := prekey.NewStore(bob, now)
	if err != nil {
		t.Fatal(err)
	}
	s0, initial, err := pqxdh.Initiate(alice, bobKeys.Bundle())
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{st: st, ratchets: &sessions.Cache{}, alice: alice, initial: initial, bobID: bob, bobKeys: bobKeys}
	p.update(t, func(tx *store.Tx) error {
		c := Contact{ID: "bob", Initial: initial, Identity: bob.Public().Bytes()}
		if err := store.PutJSON(tx, kTestContact("bob"), &c); err != nil {
			return err
		}
		return p.ratchets.Save(tx, "bob", sessions.Current, s0)
	})
	return p
}

func (p *pair) update(t *testing.T, f func(tx *store.Tx) error) {
	t.Helper()
	if err := p.st.Update(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

func (p *pair) view(t *testing.T, f func(tx *store.Tx) error) {
	t.Helper()
	if err := p.st.View(f); err != nil {
		t.Fatal(err)
	}
}

// enqueue queues a text for bob the way a sender does: contact loaded, entry queued
// (encrypted at once when withSession), contact and session saved, all in one Update.
func (p *pair) enqueue(t *testing.T, body, msgID string, withSession bool) (sealed bool) {
	t.Helper()
	p.update(t, func(tx *store.Tx) error {
		c, err := book{}.Contact(tx, "bob")
		if err != nil {
			return err
		}
		var s0 *ratchet.State
		if withSession {
			if s0, err = p.ratchets.Load(tx, "bob", sessions.Current); err != nil {
				return err
			}
		}
		content := &wire.Content{Kind: wire.KindText, ID: "x" + body, TS: ts(), Body: body}
		if sealed, err = Enqueue(tx, &c, content, msgID, time.Now().UnixMilli(), s0); err != nil {
			return err
		}
		if err := store.PutJSON(tx, kTestContact("bob"), &c); err != nil {
			return err
		}
		if sealed {
			return p.ratchets.Save(tx, "bob", sessions.Current, s0)
		}
		return nil
	})
	return sealed
}

func (p *pair) entries(t *testing.T) []Item {
	t.Helper()
	var its []Item
	p.view(t, func(tx *store.Tx) error {
		var err error
		its, err = Load(tx, "bob", nil, 1<<20)
		return err
	})
	return its
}

func (p *pair) status(t *testing.T, id string) status {
	t.Helper()
	var s status
	p.view(t, func(tx *store.Tx) error {
		_, err := store.GetJSON(tx, kTestStatus(id), &s)
		return err
	})
	return s
}

func (p *pair) queue(ctx context.Context, dial func(context.Context, string) (Stream, error)) *Queue {
	return New(ctx, Config{
		Store: p.st, Ratchets: p.ratchets, Contacts: book{},
		Session: func(context.Context, string) error { return nil },
		Dial:    dial, Status: setStatus, Identity: p.alice,
	})
}

// bobSession opens what alice sealed first (its initial message) as bob does.
func (p *pair) bobSession(t *testing.T, initial []byte) *ratchet.State {
	t.Helper()
	s, _, err := pqxdh.Respond(p.bobID, p.bobKeys, initial, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEnqueueKeepsQueueOrderAndRatchetOrder: contents get the contact's next seqs in the
// order queued; one queued with the session is encrypted at once, but once one waits for
// the worker, every later one waits too; the receiver decrypts them in queue order.
func TestEnqueueKeepsQueueOrderAndRatchetOrder(t *testing.T) {
	p := newPair(t)
	if !p.enqueue(t, "one", "m1", true) {
		t.Fatal("the first content, with a session and nothing waiting, was not encrypted at once")
	}
	if p.enqueue(t, "two", "m2", false) {
		t.Fatal("queued without a session, yet encrypted")
	}
	if p.enqueue(t, "three", "m3", true) {
		t.Fatal("encrypted at once behind an entry that waits for the worker: ratchet order would not be queue order")
	}
	its := p.entries(t)
	if len(its) != 3 {
		t.Fatalf("%d entries, want 3", len(its))
	}
	for i, it := range its {
		if it.Entry.Seq != uint64(i+1) || it.Entry.MsgID != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("entry %d: seq %d msg %q", i, it.Entry.Seq, it.Entry.MsgID)
		}
	}
	if its[0].Entry.Cipher == nil || !bytes.Equal(its[0].Entry.Initial, p.initial) || len(its[0].Entry.EnvID) != wire.IDSize {
		t.Fatal("the first entry lacks its ciphertext, envelope id or initial message")
	}
	var c Contact
	p.view(t, func(tx *store.Tx) error {
		var err error
		c, err = book{}.Contact(tx, "bob")
		if n, _ := Len(tx); n != 3 {
			t.Errorf("Len = %d, want 3", n)
		}
		if w, _ := Waiting(tx); len(w) != 1 || w[0] != "bob" {
			t.Errorf("Waiting = %q, want [bob]", w)
		}
		return err
	})
	if c.SendSeq != 3 || c.OutSeq != 3 {
		t.Fatalf("contact counters %d/%d, want 3/3", c.SendSeq, c.OutSeq)
	}

	// The worker's encryption continues the ratchet in queue order.
	q := p.queue(context.Background(), nil)
	sealed, err := q.Encrypt(context.Background(), "bob", its)
	if err != nil || len(sealed) != 3 {
		t.Fatalf("Encrypt: %d, %v", len(sealed), err)
	}
	bob := p.bobSession(t, sealed[0].Entry.Initial)
	for i, it := range sealed {
		pt, err := bob.Decrypt(it.Entry.Cipher)
		if err != nil {
			t.Fatalf("bob cannot decrypt entry %d: %v", i, err)
		}
		ct, err := wire.ParseContent(pt)
		if err != nil || ct.Seq != uint64(i+1) {
			t.Fatalf("entry %d decrypts to %+v, %v", i, ct, err)
		}
	}
	// Encrypted once: loading again gives the same bytes.
	again, err := q.Encrypt(context.Background(), "bob", p.entries(t))
	if err != nil || !bytes.Equal(again[1].Entry.Cipher, sealed[1].Entry.Cipher) || !bytes.Equal(again[1].Entry.EnvID, sealed[1].Entry.EnvID) {
		t.Fatalf("an encrypted entry changed on the next load (%v)", err)
	}
}

// TestResendHistoryKeepsTheLastContents: the resend history holds the last SentHistory
// contents; a resend request queues again those it still holds, with their bytes, and
// skips the rest.
func TestResendHistoryKeepsTheLastContents(t *testing.T) {
	p := newPair(t)
	const n = SentHistory + 6
	p.update(t, func(tx *store.Tx) error {
		c, err := book{}.Contact(tx, "bob")
		if err != nil {
			return err
		}
		for i := range n {
			if _, err := Enqueue(tx, &c, &wire.Content{Kind: wire.KindText, ID: fmt.Sprint(i), TS: ts(), Body: "b"}, "", 1, nil); err != nil {
				return err
			}
		}
		return store.PutJSON(tx, kTestContact("bob"), &c)
	})
	var kept int
	p.view(t, func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: SentPrefix("bob"), KeysOnly: true}, func(_, _ []byte) (bool, error) {
			kept++
			return true, nil
		})
	})
	if kept != SentHistory {
		t.Fatalf("resend history holds %d, want %d", kept, SentHistory)
	}
	p.update(t, func(tx *store.Tx) error {
		c, err := book{}.Contact(tx, "bob")
		if err != nil {
			return err
		}
		got, err := Requeue(tx, &c, 1, 10, 2)
		if err != nil {
			return err
		}
		if got != 4 { // 1..6 fell out of the history
			t.Errorf("Requeue queued %d, want 4 (seqs 7 to 10)", got)
		}
		if c.OutSeq != n+4 {
			t.Errorf("OutSeq = %d, want %d", c.OutSeq, n+4)
		}
		return store.PutJSON(tx, kTestContact("bob"), &c)
	})
	its := p.entries(t)
	tail := its[len(its)-4:]
	for i, it := range tail {
		ct, err := wire.ParseContent(it.Entry.Content)
		if err != nil || it.Entry.Seq != uint64(7+i) || ct.Seq != uint64(7+i) || it.Entry.Cipher != nil {
			t.Fatalf("requeued entry %d: seq %d, content %+v, %v", i, it.Entry.Seq, ct, err)
		}
	}
}

// TestAcknowledgeMovesStatusAndDropsEntries: a stored ack drops the entry and makes its
// message sent; a blocked or refused ack fails it with a reason; an ack for no entry in
// flight changes nothing.
func TestAcknowledgeMovesStatusAndDropsEntries(t *testing.T) {
	p := newPair(t)
	for i := 1; i <= 3; i++ {
		p.enqueue(t, fmt.Sprint(i), fmt.Sprintf("m%d", i), true)
	}
	its := p.entries(t)
	inflight := map[wire.ID]Sent{}
	var ids [3]wire.ID
	for i, it := range its {
		copy(ids[i][:], it.Entry.EnvID)
		inflight[ids[i]] = Sent{Key: it.Key, MsgID: it.Entry.MsgID}
	}
	q := p.queue(context.Background(), nil)
	stranger := wire.ID{1}
	n, err := q.Acknowledge(context.Background(), "bob", []wire.Ack{
		{ID: ids[0], Status: wire.AckStored}, {ID: ids[1], Status: wire.AckBlocked},
		{ID: ids[2], Status: wire.AckRefused}, {ID: stranger, Status: wire.AckStored},
	}, inflight)
	if err != nil || n != 3 || len(inflight) != 0 {
		t.Fatalf("Acknowledge = %d, %v; %d left in flight", n, err, len(inflight))
	}
	if s := p.status(t, "m1"); s.Status != api.StatusSent {
		t.Errorf("stored: %+v, want sent", s)
	}
	if s := p.status(t, "m2"); s.Status != api.StatusFailed || s.Reason == "" {
		t.Errorf("blocked: %+v, want failed with a reason", s)
	}
	if s := p.status(t, "m3"); s.Status != api.StatusFailed || s.Reason == "" {
		t.Errorf("refused: %+v, want failed with a reason", s)
	}
	if left := p.entries(t); len(left) != 0 {
		t.Fatalf("%d entries left after their acks", len(left))
	}
}

// TestUndecryptableStartsANewSessionBoundedTimes: a receiver that cannot decrypt an entry
// makes the outbox set the session aside and encrypt the entry again under a new one, at
// most MaxSessionResets times; then the message fails with a reason instead of looping.
func TestUndecryptableStartsANewSessionBoundedTimes(t *testing.T) {
	p := newPair(t)
	p.enqueue(t, "hello", "m1", true)
	q := p.queue(context.Background(), nil)
	for round := 0; ; round++ {
		if round > 0 {
			// A new session, as the worker's Session would start one.
			s0, initial, err := pqxdh.Initiate(p.alice, p.bobKeys.Bundle())
			if err != nil {
				t.Fatal(err)
			}
			p.update(t, func(tx *store.Tx) error {
				c, err := book{}.Contact(tx, "bob")
				if err != nil {
					return err
				}
				c.Initial = initial
				if err := store.PutJSON(tx, kTestContact("bob"), &c); err != nil {
					return err
				}
				return p.ratchets.Save(tx, "bob", sessions.Current, s0)
			})
		}
		its, err := q.Encrypt(context.Background(), "bob", p.entries(t))
		if err != nil || len(its) != 1 || its[0].Entry.Cipher == nil {
			t.Fatalf("round %d: Encrypt = %d entries, %v", round, len(its), err)
		}
		var id wire.ID
		copy(id[:], its[0].Entry.EnvID)
		_, err = q.Acknowledge(context.Background(), "bob", []wire.Ack{{ID: id, Status: wire.AckUndecryptable}},
			map[wire.ID]Sent{id: {Key: its[0].Key, MsgID: "m1"}})
		if round == MaxSessionResets {
			if err != nil {
				t.Fatalf("last round: %v", err)
			}
			break
		}
		if !errors.Is(err, errSessionReset) {
			t.Fatalf("round %d: %v, want a session reset", round, err)
		}
		left := p.entries(t)
		if len(left) != 1 || left[0].Entry.Cipher != nil || left[0].Entry.Resets != round+1 {
			t.Fatalf("round %d: entry after the reset: %+v", round, left)
		}
		p.view(t, func(tx *store.Tx) error {
			if s, err := p.ratchets.Load(tx, "bob", sessions.Current); err != nil || s != nil {
				t.Errorf("round %d: the current session was not set aside (%v)", round, err)
			}
			if s, err := p.ratchets.Load(tx, "bob", sessions.Previous); err != nil || s == nil {
				t.Errorf("round %d: the old session is not kept as the previous one (%v)", round, err)
			}
			if c, err := (book{}).Contact(tx, "bob"); err != nil || c.Initial != nil {
				t.Errorf("round %d: the old initial message is kept (%v)", round, err)
			}
			return nil
		})
		if s := p.status(t, "m1"); s.Status != "" {
			t.Fatalf("round %d: status %+v before the resets ran out", round, s)
		}
	}
	if s := p.status(t, "m1"); s.Status != api.StatusFailed || s.Reason == "" {
		t.Fatalf("after %d new sessions: %+v, want failed with a reason", MaxSessionResets, s)
	}
	if left := p.entries(t); len(left) != 0 {
		t.Fatalf("%d entries left", len(left))
	}
}

// TestEncryptFailsExpiredEntries: an entry its recipient has not taken within ExpireAfter
// leaves the outbox and its message fails, saying so.
func TestEncryptFailsExpiredEntries(t *testing.T) {
	p := newPair(t)
	p.enqueue(t, "old", "m1", false)
	q := New(context.Background(), Config{
		Store: p.st, Ratchets: p.ratchets, Contacts: book{}, Status: setStatus,
		Now: func() time.Time { return time.Now().Add(ExpireAfter + time.Hour) },
	})
	its, err := q.Encrypt(context.Background(), "bob", p.entries(t))
	if err != nil || len(its) != 0 {
		t.Fatalf("Encrypt = %d entries, %v; want none", len(its), err)
	}
	if s := p.status(t, "m1"); s.Status != api.StatusFailed || s.Reason == "" {
		t.Fatalf("expired: %+v, want failed with a reason", s)
	}
	if left := p.entries(t); len(left) != 0 {
		t.Fatalf("%d entries left", len(left))
	}
}

// pipeStream is one end of an in-memory connection as a message stream.
type pipeStream struct{ net.Conn }

func (s pipeStream) Reset() error { return s.Close() }

// TestWorkerDeliversInOrderOverOneStream: Kick starts a worker that dials once, writes the
// queued contents as Deliver frames in queue order, and applies the receiver's acks: the
// outbox empties and the messages are sent. The receiver speaks the wire protocol and
// decrypts every frame with bob's real session.
func TestWorkerDeliversInOrderOverOneStream(t *testing.T) {
	p := newPair(t)
	for i := 1; i <= 5; i++ {
		p.enqueue(t, fmt.Sprint(i), fmt.Sprintf("m%d", i), i%2 == 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan []uint64, 1)
	dials := 0
	q := p.queue(ctx, func(context.Context, string) (Stream, error) {
		dials++
		ours, theirs := net.Pipe()
		go func() {
			defer theirs.Close()
			r, w := bufio.NewReader(theirs), bufio.NewWriter(theirs)
			var bob *ratchet.State
			var seqs []uint64
			for len(seqs) < 5 {
				b, err := wire.ReadFrame(r, nil)
				if err != nil {
					return
				}
				d, err := wire.ParseDeliver(b)
				if err != nil {
					return
				}
				if bob == nil {
					if bob, _, err = pqxdh.Respond(p.bobID, p.bobKeys, d.Initial, time.Now()); err != nil {
						return
					}
				}
				pt, err := bob.Decrypt(d.Message)
				if err != nil {
					return
				}
				ct, err := wire.ParseContent(pt)
				if err != nil {
					return
				}
				seqs = append(seqs, ct.Seq)
				if wire.WriteFrame(w, wire.AppendAck(nil, wire.Ack{ID: d.ID, Status: wire.AckStored})) != nil || w.Flush() != nil {
					return
				}
			}
			got <- seqs
			_, _ = r.ReadByte() // until the sender resets the stream
		}()
		return pipeStream{ours}, nil
	})
	q.Kick("bob")
	var seqs []uint64
	wait.For(t, "the receiver to take 5 contents", func() error {
		select {
		case seqs = <-got:
			return nil
		default:
			return errors.New("not yet")
		}
	})
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("receiver got seqs %v, want 1 to 5 in order", seqs)
		}
	}
	wait.For(t, "messages sent and the outbox empty", func() error {
		for i := 1; i <= 5; i++ {
			if s := p.status(t, fmt.Sprintf("m%d", i)); s.Status != api.StatusSent {
				return fmt.Errorf("m%d: %+v", i, s)
			}
		}
		if n := len(p.entries(t)); n != 0 {
			return fmt.Errorf("%d entries left", n)
		}
		return nil
	})
	cancel()
	q.Wait()
	if dials != 1 {
		t.Fatalf("%d dials for one batch, want 1", dials)
	}
}
