package relayserver_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// TestDepositExpiry: mail deposited with an expiry (single, batched and multi deposits) is
// drained before it and never after it, although the mailbox TTL is far off; the purge
// deletes it, the message quota it took is released, and mail without an expiry stays.
func TestDepositExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.TTL = relayserver.Duration(24 * time.Hour)
	cfg.Mailbox.MaxMessages = 4
	r := startRelay(t, cfg)
	bob, carol := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	register(t, h, r, carol)
	s := newSender(t)
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(30 * time.Minute)
	stays := s.seal(t, bob, "stays")
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, stays); err != nil {
		t.Fatal(err)
	}
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "single"), mailboxclient.WithExpiry(expires)); err != nil {
		t.Fatal(err)
	}
	errs, err := mailboxclient.DepositBatch(ctx, h, r.id(), []mailboxclient.Envelope{
		{Mailbox: bob.mb, Envelope: s.seal(t, bob, "batched"), ExpiresAt: expires},
	})
	if err != nil || errs[0] != nil {
		t.Fatalf("batch: %v %v", errs, err)
	}
	rs, body := multiFor(t, alice, []byte("to the group"), bob, carol)
	errs, err = mailboxclient.DepositMulti(ctx, h, r.id(), rs, body, mailboxclient.WithExpiry(expires))
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("multi: %v %v", errs, err)
	}
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "one too many")); !errors.Is(err, mailboxclient.ErrQuotaMessages) {
		t.Fatalf("fifth message: %v, want the message quota", err)
	}
	if mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10); err != nil || len(mail) != 4 {
		t.Fatalf("before the expiry bob has %d messages (%v), want 4", len(mail), err)
	}

	r.now.advance(time.Hour) // past the expiry, far from the TTL
	mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10)
	if err != nil || len(mail) != 1 || !bytes.Equal(mail[0].Envelope, stays) {
		t.Fatalf("after the expiry bob drained %d messages (%v), want only the one without expiry", len(mail), err)
	}
	if mail, err := mailboxclient.Fetch(ctx, h, r.id(), carol.id, 10); err != nil || len(mail) != 0 {
		t.Fatalf("after the expiry carol drained %d messages (%v)", len(mail), err)
	}
	if n, err := r.PurgeNow(ctx); err != nil || n != 4 {
		t.Fatalf("purge: %d, %v; want 4 (3 of bob's, 1 of carol's)", n, err)
	}
	if st := r.Stats(); st.Messages != 1 || st.SharedBodies != 0 || st.Bytes != int64(len(stays)) {
		t.Errorf("stats after the purge: %+v", st)
	}
	for i := range 3 {
		if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "room again")); err != nil {
			t.Fatalf("deposit %d after the purge: %v (quota not released)", i, err)
		}
	}
	if n, err := r.PurgeNow(ctx); err != nil || n != 0 {
		t.Errorf("second purge: %d, %v", n, err)
	}
}

// TestDepositExpirySurvivesRestart: the expiry is stored with the mail: a relay restarted
// after the deposit still never hands it out after its expiry, and purges it.
func TestDepositExpirySurvivesRestart(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.TTL = relayserver.Duration(24 * time.Hour)
	dir := t.TempDir()
	r := startRelayIn(t, cfg, dir)
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "short"), mailboxclient.WithExpiry(time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	r = startRelayIn(t, cfg, dir)
	h = newNode(t, r)
	r.now.advance(2 * time.Minute)
	if mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10); err != nil || len(mail) != 0 {
		t.Fatalf("after restart and expiry: %d messages, %v", len(mail), err)
	}
	if n, err := r.PurgeNow(ctx); err != nil || n != 1 {
		t.Fatalf("purge after restart: %d, %v", n, err)
	}
}
