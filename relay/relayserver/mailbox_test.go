package relayserver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

var ctx = context.Background()

// TestDepositFetchAckRoundTripInOrder: deposits by two depositors come back to the owner in
// deposit order, open to the owner's key, stay until acknowledged and are gone after.
func TestDepositFetchAckRoundTripInOrder(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	bobNode := newNode(t, r)
	register(t, bobNode, r, bob)
	alice := newSender(t)
	aliceNode, carolNode := newNode(t, r), newNode(t, r)
	for i := range 20 {
		h := aliceNode
		if i%2 == 1 {
			h = carolNode
		}
		if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, alice.seal(t, bob, fmt.Sprintf("msg %02d", i))); err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	mail, err := mailboxclient.Fetch(ctx, bobNode, r.id(), bob.id, 100)
	if err != nil || len(mail) != 20 {
		t.Fatalf("fetch: %d %v", len(mail), err)
	}
	ids := make([]uint64, 0, 20)
	for i, m := range mail {
		o, err := sealed.Open(m.Envelope, bob.dh)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if string(o.Payload) != fmt.Sprintf("msg %02d", i) {
			t.Errorf("mail %d is %q: order lost", i, o.Payload)
		}
		if time.Since(m.DepositedAt) > time.Minute || m.DepositedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("deposited at %v", m.DepositedAt)
		}
		ids = append(ids, m.ID)
	}
	// Not acknowledged yet: fetched again.
	if again, _ := mailboxclient.Fetch(ctx, bobNode, r.id(), bob.id, 100); len(again) != 20 {
		t.Fatalf("refetch before ack: %d", len(again))
	}
	if err := mailboxclient.Ack(ctx, bobNode, r.id(), bob.id, ids[:15]); err != nil {
		t.Fatal(err)
	}
	rest, _ := mailboxclient.Fetch(ctx, bobNode, r.id(), bob.id, 100)
	if len(rest) != 5 || rest[0].ID != ids[15] {
		t.Fatalf("after ack: %d mails", len(rest))
	}
	// Drain takes the rest, acknowledging only what the handler accepted.
	boom := errors.New("disk full")
	if n, err := mailboxclient.Drain(ctx, bobNode, r.id(), bob.id, 2, func([]mailboxclient.Mail) error { return boom }); !errors.Is(err, boom) || n != 0 {
		t.Fatalf("drain with failing handler: %d %v", n, err)
	}
	var got int
	n, err := mailboxclient.Drain(ctx, bobNode, r.id(), bob.id, 2, func(m []mailboxclient.Mail) error { got += len(m); return nil })
	if err != nil || n != 5 || got != 5 {
		t.Fatalf("drain: %d %d %v", n, got, err)
	}
	if st := r.Stats(); st.Messages != 0 || st.Bytes != 0 {
		t.Errorf("stats after drain: %+v", st)
	}
}

// TestDepositRefusals: unknown mailbox, envelope for another mailbox, not an envelope and a
// too-large envelope are each refused with their reason; the stream of a refused deposit
// still carries the next deposit.
func TestDepositRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.MaxEnvelopeBytes = 4 << 10
	r := startRelay(t, cfg)
	bob, eve := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	big := s.seal(t, bob, string(make([]byte, 5000)))
	errs, err := mailboxclient.DepositBatch(ctx, h, r.id(), []mailboxclient.Envelope{
		{Mailbox: eve.mb, Envelope: s.seal(t, eve, "x")},              // not registered here
		{Mailbox: bob.mb, Envelope: s.seal(t, eve, "x")},              // addressed to eve
		{Mailbox: bob.mb, Envelope: []byte("hello, not an envelope")}, // not sealed
		{Mailbox: bob.mb, Envelope: s.seal(t, bob, "fine")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{mailboxclient.ErrUnknownMailbox, mailboxclient.ErrBadEnvelope, mailboxclient.ErrBadEnvelope, nil} {
		if !errors.Is(errs[i], want) || (want != nil && !errors.Is(errs[i], mailboxclient.ErrRefused)) {
			t.Errorf("deposit %d: %v, want %v", i, errs[i], want)
		}
	}
	err = mailboxclient.Deposit(ctx, h, r.id(), bob.mb, big)
	var re *mailboxclient.RefusedError
	if !errors.Is(err, mailboxclient.ErrTooLarge) || !errors.As(err, &re) || re.Message == "" {
		t.Errorf("too large: %v", err)
	}
	t.Logf("refusal as the node sees it: %v", err)
	if mail, _ := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10); len(mail) != 1 {
		t.Errorf("bob holds %d mails, want 1", len(mail))
	}
}

// TestQuotasAndRateLimitsRefuseClearlyAndServeOthers: a full mailbox refuses with
// quota_messages or quota_bytes, a depositor over its rate is refused with rate_limited, and
// meanwhile other mailboxes and other depositors are served.
func TestQuotasAndRateLimitsRefuseClearlyAndServeOthers(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.MaxMessages = 5
	r := startRelay(t, cfg)
	bob, carol, dave := newUser(t), newUser(t), newUser(t)
	owner := newNode(t, r)
	for _, u := range []user{bob, carol, dave} {
		register(t, owner, r, u)
	}
	s := newSender(t)
	depositor := newNode(t, r)
	for i := range 5 {
		if err := mailboxclient.Deposit(ctx, depositor, r.id(), bob.mb, s.seal(t, bob, "m")); err != nil {
			t.Fatalf("deposit %d: %v", i, err)
		}
	}
	err := mailboxclient.Deposit(ctx, depositor, r.id(), bob.mb, s.seal(t, bob, "one too many"))
	if !errors.Is(err, mailboxclient.ErrQuotaMessages) {
		t.Fatalf("sixth deposit: %v", err)
	}
	t.Logf("quota refusal: %v", err)
	if err := mailboxclient.Deposit(ctx, depositor, r.id(), carol.mb, s.seal(t, carol, "carol still served")); err != nil {
		t.Fatalf("carol: %v", err)
	}

	// Rates, on a relay with small buckets.
	cfg = testConfig()
	cfg.Mailbox.PeerRate, cfg.Mailbox.PeerBurst = 1, 30
	cfg.Mailbox.MailboxRate, cfg.Mailbox.MailboxBurst = 1, 12
	r = startRelay(t, cfg)
	owner = newNode(t, r)
	for _, u := range []user{carol, dave} {
		register(t, owner, r, u)
	}
	depositor = newNode(t, r)
	// Per mailbox: dave's burst is 12.
	var envs []mailboxclient.Envelope
	for range 20 {
		envs = append(envs, mailboxclient.Envelope{Mailbox: dave.mb, Envelope: s.seal(t, dave, "d")})
	}
	flood := newNode(t, r)
	errs, err := mailboxclient.DepositBatch(ctx, flood, r.id(), envs)
	if err != nil {
		t.Fatal(err)
	}
	limited := 0
	for _, e := range errs {
		if errors.Is(e, mailboxclient.ErrRateLimited) {
			limited++
		} else if e != nil {
			t.Errorf("dave flood: %v", e)
		}
	}
	if limited < 4 || limited > 8 { // 8 if the batch took under a second
		t.Errorf("%d of 20 rate limited; want about 8 (burst 12, 1/s)", limited)
	}
	// Per depositor: flood has used ~20 of its 30 tokens (1 more per second); 40 more trip
	// it, whatever the mailbox.
	envs = envs[:0]
	for range 40 {
		envs = append(envs, mailboxclient.Envelope{Mailbox: carol.mb, Envelope: s.seal(t, carol, "c")})
	}
	errs, _ = mailboxclient.DepositBatch(ctx, flood, r.id(), envs)
	if !errors.Is(errs[len(errs)-1], mailboxclient.ErrRateLimited) {
		t.Errorf("depositor over its rate: %v", errs[len(errs)-1])
	}
	// Another depositor is still served.
	if err := mailboxclient.Deposit(ctx, depositor, r.id(), carol.mb, s.seal(t, carol, "x")); err != nil {
		t.Errorf("other depositor: %v", err)
	}

	// Byte quota on a fresh relay.
	cfg = testConfig()
	cfg.Mailbox.MaxBytes = 500 // one smallest envelope (323 bytes) fits, two do not
	r2 := startRelay(t, cfg)
	h2 := newNode(t, r2)
	register(t, h2, r2, bob)
	if err := mailboxclient.Deposit(ctx, h2, r2.id(), bob.mb, s.seal(t, bob, "a")); err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Deposit(ctx, h2, r2.id(), bob.mb, s.seal(t, bob, "b")); !errors.Is(err, mailboxclient.ErrQuotaBytes) {
		t.Errorf("byte quota: %v", err)
	}
}

// TestTTLPurge: mail past its TTL is no longer fetched and the purge deletes it.
func TestTTLPurge(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.TTL = relayserver.Duration(time.Hour)
	r := startRelay(t, cfg)
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	for range 3 {
		if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "old")); err != nil {
			t.Fatal(err)
		}
	}
	r.now.advance(61 * time.Minute)
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "new")); err != nil {
		t.Fatal(err)
	}
	if n, err := r.PurgeNow(ctx); err != nil || n != 3 {
		t.Fatalf("purge: %d %v", n, err)
	}
	mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10)
	if err != nil || len(mail) != 1 {
		t.Fatalf("after purge: %d %v", len(mail), err)
	}
	if st := r.Stats(); st.Messages != 1 {
		t.Errorf("stats %+v", st)
	}

	// The server's own maintenance loop purges without being asked.
	cfg.Mailbox.PurgeInterval = relayserver.Duration(20 * time.Millisecond)
	r2 := startRelay(t, cfg)
	h2 := newNode(t, r2)
	register(t, h2, r2, bob)
	if err := mailboxclient.Deposit(ctx, h2, r2.id(), bob.mb, s.seal(t, bob, "soon gone")); err != nil {
		t.Fatal(err)
	}
	r2.now.advance(2 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for r2.Stats().Messages != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the purge loop did not delete expired mail")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchNotifiesOnDeposit: a watching owner hears of mail at once and after each deposit;
// the watch ends with the caller's context or the relay's shutdown.
func TestWatchNotifiesOnDeposit(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	wctx, cancel := context.WithCancel(ctx)
	ch, err := mailboxclient.Watch(wctx, h, r.id(), bob.id)
	if err != nil {
		t.Fatal(err)
	}
	if n := <-ch; n != 0 {
		t.Fatalf("first notice %d", n)
	}
	s := newSender(t)
	dep := newNode(t, r)
	for want := uint64(1); want <= 3; want++ {
		if err := mailboxclient.Deposit(ctx, dep, r.id(), bob.mb, s.seal(t, bob, "hi")); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-ch:
			if n != want {
				t.Errorf("notice %d, want %d", n, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no notice")
		}
	}
	cancel()
	for range ch {
	}
	// A relay shutting down ends its watches (the node then re-watches elsewhere or later).
	ch, err = mailboxclient.Watch(ctx, h, r.id(), bob.id)
	if err != nil {
		t.Fatal(err)
	}
	if n := <-ch; n != 3 {
		t.Errorf("second watch starts at %d, want 3", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-ch:
		if open {
			t.Error("a notice after shutdown")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch still open after the relay stopped")
	}
}
