package relaystore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/petrel-chat/petrel/crypto/sealed"
)

func header(i int) []byte { return []byte(fmt.Sprintf("header-%03d", i)) }

// countBodies counts the shared body records on disk.
func countBodies(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxBody}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMultiDepositStoresBodyOnceDeletesOnLastAck: one body for three mailboxes is stored
// once; each owner fetches header ‖ body as one shared envelope; the body stays until the
// last owner acknowledges, and survives a reopen meanwhile.
func TestMultiDepositStoresBodyOnceDeletesOnLastAck(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mbs [][]byte
	var rs []Recipient
	for i := range 3 {
		_, mb := newOwner(t, s)
		mbs = append(mbs, mb)
		rs = append(rs, Recipient{Mailbox: mb, Header: header(i)})
	}
	body := bytes.Repeat([]byte{0xb0}, 5000) // in Badger's value log
	s.Deposit(ctx, mbs[0], []byte("\x01plain before"), time.Now(), noQuota)
	errs, err := s.MultiDeposit(ctx, rs, body, time.Now(), noQuota)
	if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("multi deposit: %v %v", errs, err)
	}
	s.Deposit(ctx, mbs[0], []byte("\x01plain after"), time.Now(), noQuota)
	if n := countBodies(t, s); n != 1 {
		t.Fatalf("%d bodies stored, want 1", n)
	}
	charged := int64(sealed.SharedSize(len(header(0)), len(body)))
	if st := s.Stats(); st.SharedBodies != 1 || st.SharedBytes != int64(len(body)) || st.Messages != 5 || st.Bytes != 3*charged+13+12 {
		t.Fatalf("stats %+v", st)
	}
	s.Close()
	s = openStore(t, dir)
	if st := s.Stats(); st.SharedBodies != 1 || st.SharedBytes != int64(len(body)) || st.Messages != 5 {
		t.Fatalf("stats after reopen %+v", st)
	}
	mail, _, err := s.Fetch(mbs[0], 10, 1<<20, time.Now())
	if err != nil || len(mail) != 3 || string(mail[0].Envelope) != "\x01plain before" || string(mail[2].Envelope) != "\x01plain after" {
		t.Fatalf("fetch: %d %v", len(mail), err)
	}
	if want := sealed.JoinShared(header(0), body); !bytes.Equal(mail[1].Envelope, want) {
		t.Fatalf("shared mail of %d bytes, want header ‖ body joined", len(mail[1].Envelope))
	}
	for i, mb := range mbs {
		mail, _, _ := s.Fetch(mb, 10, 1<<20, time.Now())
		var id uint64
		for _, m := range mail {
			if sealed.IsShared(m.Envelope) {
				id = m.ID
			}
		}
		if n, err := s.Ack(ctx, mb, []uint64{id, id}); err != nil || n != 1 {
			t.Fatalf("ack %d: %d %v", i, n, err)
		}
		want := 1
		if i == len(mbs)-1 {
			want = 0
		}
		if n := countBodies(t, s); n != want {
			t.Fatalf("after %d acks: %d bodies, want %d", i+1, n, want)
		}
		// A second ack of the same id changes nothing.
		if n, _ := s.Ack(ctx, mb, []uint64{id}); n != 0 {
			t.Fatalf("re-ack deleted %d", n)
		}
	}
	if st := s.Stats(); st.SharedBodies != 0 || st.SharedBytes != 0 || st.Messages != 2 || st.Bytes != 25 {
		t.Fatalf("stats after the last ack %+v", st)
	}
}

// TestMultiDepositQuotaPerMailbox: a full mailbox refuses only itself; an unknown one
// likewise; the others store the body.
func TestMultiDepositQuotaPerMailbox(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, full := newOwner(t, s)
	_, ok1 := newOwner(t, s)
	_, ok2 := newOwner(t, s)
	_, nearly := newOwner(t, s)
	body := make([]byte, 300)
	charged := int64(sealed.SharedSize(len(header(0)), len(body)))
	q := Quota{MaxMessages: 2, MaxBytes: 2 * charged, TTL: time.Hour}
	for range 2 {
		if _, err := s.Deposit(ctx, full, []byte("\x01x"), time.Now(), q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Deposit(ctx, nearly, bytes.Repeat([]byte{1}, int(charged)), time.Now(), q); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deposit(ctx, nearly, []byte{1}, time.Now(), q); err != nil {
		t.Fatal(err)
	}
	unknown := bytes.Repeat([]byte{9}, 16)
	rs := []Recipient{{ok1, header(0)}, {full, header(1)}, {unknown, header(2)}, {nearly, header(3)}, {ok2, header(4)}}
	errs, err := s.MultiDeposit(ctx, rs, body, time.Now(), q)
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[4] != nil || !errors.Is(errs[1], ErrQuotaMessages) ||
		!errors.Is(errs[2], ErrUnknownMailbox) || !errors.Is(errs[3], ErrQuotaMessages) {
		t.Fatalf("errs %v", errs)
	}
	_, bytesFull := newOwner(t, s)
	s.Deposit(ctx, bytesFull, bytes.Repeat([]byte{1}, int(charged)+1), time.Now(), q)
	errs, _ = s.MultiDeposit(ctx, []Recipient{{bytesFull, header(0)}}, body, time.Now(), q)
	if !errors.Is(errs[0], ErrQuotaBytes) {
		t.Fatalf("byte quota: %v", errs)
	}
	if n := countBodies(t, s); n != 1 {
		t.Fatalf("%d bodies; a deposit nobody took must store none", n)
	}
	for _, mb := range [][]byte{ok1, ok2} {
		if s.Waiting(mb) != 1 {
			t.Errorf("mailbox %x holds %d", mb, s.Waiting(mb))
		}
	}
}

// TestMultiDepositExpiry: expired shared mail is not fetched, and the purge deletes the
// records and the body; nothing is left behind.
func TestMultiDepositExpiry(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, a := newOwner(t, s)
	_, b := newOwner(t, s)
	t0 := time.Now()
	if _, err := s.MultiDeposit(ctx, []Recipient{{a, header(0)}, {b, header(1)}}, []byte("body"), t0, Quota{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// b acknowledged before expiry; a never did.
	if n, err := s.Ack(ctx, b, []uint64{1}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	later := t0.Add(2 * time.Minute)
	if mail, _, _ := s.Fetch(a, 10, 1<<20, later); len(mail) != 0 {
		t.Fatalf("fetched %d expired", len(mail))
	}
	n, err := s.PurgeExpired(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if st := s.Stats(); st.SharedBodies != 0 || st.Messages != 0 || st.Bytes != 0 || countBodies(t, s) != 0 {
		t.Fatalf("after purge: %+v, %d bodies", st, countBodies(t, s))
	}
}

// TestPlainEnvelopeCannotPoseAsSharedRecord: the byte that marks shared records is refused
// at the start of a plain envelope.
func TestPlainEnvelopeCannotPoseAsSharedRecord(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, mb := newOwner(t, s)
	for _, env := range [][]byte{{}, {SharedMark, 1, 2}} {
		if _, err := s.Deposit(ctx, mb, env, time.Now(), noQuota); !errors.Is(err, ErrBadEnvelope) {
			t.Errorf("%x: %v", env, err)
		}
	}
}
