package relaystore

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestOwnExpiry: mail deposited with an expiry earlier than the TTL is never fetched from
// then on, though older mail lives on; the purge deletes it (single and multi deposits),
// releases the mailbox's quota and the shared body, and leaves no index entry; mail
// acknowledged before its expiry leaves none either.
func TestOwnExpiry(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, a := newOwner(t, s)
	_, b := newOwner(t, s)
	t0 := time.Now()
	q := Quota{TTL: time.Hour, MaxMessages: 3}
	deposit := func(mb []byte, env string, until time.Time) {
		t.Helper()
		if _, err := s.StartDepositUntil(ctx, mb, []byte(env), t0, until, q)(); err != nil {
			t.Fatalf("deposit %s: %v", env, err)
		}
	}
	deposit(a, "\x01lives", time.Time{})
	deposit(a, "\x01goes", t0.Add(time.Minute))
	deposit(a, "\x01late expiry", t0.Add(48*time.Hour)) // the TTL wins
	errs, err := s.StartMultiDepositUntil(ctx, []Recipient{{a, header(0)}, {b, header(1)}}, []byte("\x02body"), t0, t0.Add(time.Minute), q)()
	if err == nil && (errs[0] == nil) {
		t.Fatal("a's fourth message passed the message quota")
	}
	if err != nil || errs[1] != nil {
		t.Fatalf("multi deposit: %v %v", errs, err)
	}
	deposit(b, "\x01acked first", t0.Add(time.Minute))
	mail, _, _ := s.Fetch(b, 10, 1<<20, t0)
	if len(mail) != 2 {
		t.Fatalf("b before expiry: %d messages", len(mail))
	}
	if _, err := s.Ack(ctx, b, []uint64{mail[1].ID}); err != nil {
		t.Fatal(err)
	}

	later := t0.Add(2 * time.Minute)
	mail, _, _ = s.Fetch(a, 10, 1<<20, later)
	if len(mail) != 2 || string(mail[0].Envelope) != "\x01lives" || string(mail[1].Envelope) != "\x01late expiry" {
		t.Fatalf("a after the expiry: %d messages", len(mail))
	}
	if mail, _, _ := s.Fetch(b, 10, 1<<20, later); len(mail) != 0 {
		t.Fatalf("b after the expiry: %d messages", len(mail))
	}
	n, err := s.PurgeExpired(ctx, later)
	if err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2", n, err)
	}
	if s.Waiting(a) != 2 || s.Waiting(b) != 0 {
		t.Errorf("waiting a=%d b=%d", s.Waiting(a), s.Waiting(b))
	}
	st := s.Stats()
	if st.Messages != 2 || st.Bytes != int64(len("\x01lives")+len("\x01late expiry")) || st.SharedBodies != 0 {
		t.Errorf("stats after purge: %+v", st)
	}
	// The message quota is released: a takes another.
	deposit(a, "\x01room again", time.Time{})
	if n, _ := s.PurgeExpired(ctx, later); n != 0 {
		t.Errorf("second purge deleted %d", n)
	}
	s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pfxExpiry}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			t.Errorf("expiry index entry left: %x", it.Item().Key())
		}
		return nil
	})
}
