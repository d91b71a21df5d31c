package relaystore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

var ctx = context.Background()

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newOwner(t *testing.T, s *Store) (*identity.Identity, []byte) {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if created, err := s.Register(ctx, id.Public(), time.Now()); err != nil || !created {
		t.Fatalf("register: %v %v", created, err)
	}
	return id, relaywire.MailboxID(id.Public())
}

var noQuota = Quota{TTL: time.Hour}

// TestDepositFetchAckInOrder: mail comes back in deposit order with increasing ids, and
// only acknowledged mail is deleted.
func TestDepositFetchAckInOrder(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, mb := newOwner(t, s)
	for i := range 10 {
		if _, err := s.Deposit(ctx, mb, []byte(fmt.Sprintf("env-%02d", i)), time.Now(), noQuota); err != nil {
			t.Fatal(err)
		}
	}
	mail, more, err := s.Fetch(mb, 4, 1<<20, time.Now())
	if err != nil || len(mail) != 4 || !more {
		t.Fatalf("fetch: %d %v %v", len(mail), more, err)
	}
	for i, m := range mail {
		if string(m.Envelope) != fmt.Sprintf("env-%02d", i) || m.ID != uint64(i+1) {
			t.Errorf("mail %d: id %d %q", i, m.ID, m.Envelope)
		}
	}
	if n, err := s.Ack(ctx, mb, []uint64{1, 2, 2, 99}); err != nil || n != 2 {
		t.Fatalf("ack: %d %v", n, err)
	}
	mail, _, _ = s.Fetch(mb, 100, 1<<20, time.Now())
	if len(mail) != 8 || mail[0].ID != 3 {
		t.Fatalf("after ack: %d mails, first %d", len(mail), mail[0].ID)
	}
	if st := s.Stats(); st.Messages != 8 || st.Mailboxes != 1 || st.Bytes != 8*6 {
		t.Errorf("stats %+v", st)
	}
}

// TestUnknownMailboxRefused: deposits and bundles for a mailbox not registered here fail.
func TestUnknownMailboxRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.Deposit(ctx, bytes.Repeat([]byte{1}, 16), []byte("x"), time.Now(), noQuota); !errors.Is(err, ErrUnknownMailbox) {
		t.Errorf("deposit: %v", err)
	}
	if _, err := s.TakeBundle(ctx, bytes.Repeat([]byte{1}, 16)); !errors.Is(err, ErrUnknownMailbox) {
		t.Errorf("bundle: %v", err)
	}
}

// TestQuotasExactUnderConcurrency: 50 concurrent deposits into a 20-message mailbox store
// exactly 20; the byte quota refuses the deposit that would cross it.
func TestQuotasExactUnderConcurrency(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, mb := newOwner(t, s)
	q := Quota{MaxMessages: 20, MaxBytes: 1 << 20, TTL: time.Hour}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for range 50 {
		wg.Go(func() {
			_, err := s.Deposit(ctx, mb, []byte("envelope"), time.Now(), q)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrQuotaMessages):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 20 || refused != 30 {
		t.Errorf("%d stored, %d refused; want 20 and 30", ok, refused)
	}
	_, mb2 := newOwner(t, s)
	qb := Quota{MaxBytes: 100, TTL: time.Hour}
	if _, err := s.Deposit(ctx, mb2, bytes.Repeat([]byte{1}, 60), time.Now(), qb); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deposit(ctx, mb2, bytes.Repeat([]byte{1}, 41), time.Now(), qb); !errors.Is(err, ErrQuotaBytes) {
		t.Errorf("over byte quota: %v", err)
	}
}

// TestTTLPurge: expired mail is not fetched and is deleted by PurgeExpired, counters too.
func TestTTLPurge(t *testing.T) {
	s := openStore(t, t.TempDir())
	_, mb := newOwner(t, s)
	t0 := time.Now()
	s.Deposit(ctx, mb, []byte("old"), t0, Quota{TTL: time.Minute})
	s.Deposit(ctx, mb, []byte("new"), t0, Quota{TTL: time.Hour})
	later := t0.Add(2 * time.Minute)
	mail, _, _ := s.Fetch(mb, 10, 1<<20, later)
	if len(mail) != 1 || string(mail[0].Envelope) != "new" {
		t.Fatalf("fetch after expiry: %v", mail)
	}
	n, err := s.PurgeExpired(ctx, later)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if s.Waiting(mb) != 1 || s.Stats().Messages != 1 {
		t.Errorf("waiting %d, stats %+v", s.Waiting(mb), s.Stats())
	}
	if n, _ := s.PurgeExpired(ctx, later); n != 0 {
		t.Errorf("second purge deleted %d", n)
	}
	if _, err := s.CollectGarbage(2); err != nil {
		t.Errorf("value log GC: %v", err)
	}
}

// TestReopenKeepsEverything: registrations, mail, counters and prekeys survive Close/Open.
func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, mb := newOwner(t, s)
	for range 3 {
		s.Deposit(ctx, mb, []byte("env"), time.Now(), noQuota)
	}
	s.Close()
	s = openStore(t, dir)
	if st := s.Stats(); st.Mailboxes != 1 || st.Messages != 3 || st.Bytes != 9 {
		t.Errorf("stats after reopen: %+v", st)
	}
	if p, err := s.Owner(mb); err != nil || !p.Equal(id.Public()) {
		t.Errorf("owner: %v", err)
	}
	if id, err := s.Deposit(ctx, mb, []byte("env"), time.Now(), noQuota); err != nil || id != 4 {
		t.Errorf("next id %d %v", id, err)
	}
}

// TestOneTimePrekeysHandedOutOnce: each one-time prekey of either kind goes out exactly
// once, then bundles carry the last-resort key and no X25519 one-time key.
func TestOneTimePrekeysHandedOutOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	id, mb := newOwner(t, s)
	if _, err := s.TakeBundle(ctx, mb); !errors.Is(err, ErrNoPrekeys) {
		t.Fatalf("bundle before upload: %v", err)
	}
	ps, err := prekey.NewStore(id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	up := &relaywire.Upload{SignedPrekey: ps.SignedPrekey(), LastResort: ps.LastResortPrekey(),
		OneTime: ps.OneTimePrekeys()[:3], PQOneTime: ps.PQOneTimePrekeys()[:2]}
	rem, err := s.PutPrekeys(ctx, mb, up, 100)
	if err != nil || rem != (Remaining{OneTime: 3, PQOneTime: 2}) {
		t.Fatalf("put: %+v %v", rem, err)
	}
	var wg sync.WaitGroup
	bundles := make([]*prekey.Bundle, 5)
	for i := range bundles {
		wg.Go(func() {
			b, err := s.TakeBundle(ctx, mb)
			if err != nil {
				t.Error(err)
			}
			bundles[i] = b
		})
	}
	wg.Wait()
	opks, pqs := map[uint32]int{}, map[uint32]int{}
	lastResort := 0
	for _, b := range bundles {
		if k, ok := b.OneTimePrekey(); ok {
			opks[k.ID()]++
		}
		if b.PQPrekey().Kind() == prekey.LastResort {
			lastResort++
		} else {
			pqs[b.PQPrekey().ID()]++
		}
	}
	if len(opks) != 3 || len(pqs) != 2 || lastResort != 3 {
		t.Errorf("one-time %v, PQ one-time %v, last resort %d", opks, pqs, lastResort)
	}
	for id, n := range opks {
		if n != 1 {
			t.Errorf("one-time prekey %d handed out %d times", id, n)
		}
	}
	if rem, _ := s.PrekeyCount(mb); rem != (Remaining{}) {
		t.Errorf("remaining %+v", rem)
	}
}
