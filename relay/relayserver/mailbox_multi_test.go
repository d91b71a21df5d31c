package relayserver_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

func metricsText(t *testing.T, r *testRelay) string {
	t.Helper()
	resp, err := http.Get(r.info.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// multiFor seals payload once and a header from `from` for each user.
func multiFor(t testing.TB, from *identity.Identity, payload []byte, to ...user) ([]mailboxclient.Recipient, []byte) {
	t.Helper()
	sb, err := sealed.SealBody(payload)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy()
	rs := make([]mailboxclient.Recipient, len(to))
	for i, u := range to {
		h, err := sb.HeaderFrom(u.mb, u.id.Public(), from)
		if err != nil {
			t.Fatal(err)
		}
		rs[i] = mailboxclient.Recipient{Mailbox: u.mb, Header: h}
	}
	return rs, sb.Body()
}

// TestMultiDepositOneBodyEachOwnerFetchesAndOpens: one multi deposit for three mailboxes is
// one body at the relay; each owner drains a shared envelope that opens to the payload
// from the sender; a full mailbox is refused alone; a stranger cannot fetch; nothing of
// the payload or the sender's identity is in the relay's data directory.
func TestMultiDepositOneBodyEachOwnerFetchesAndOpens(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.MaxMessages = 1
	r := startRelay(t, cfg)
	alice, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	bob, carol, dave, full := newUser(t), newUser(t), newUser(t), newUser(t)
	owner := newNode(t, r)
	for _, u := range []user{bob, carol, dave, full} {
		register(t, owner, r, u)
	}
	s := newSender(t)
	if err := mailboxclient.Deposit(ctx, owner, r.id(), full.mb, s.seal(t, full, "fills it")); err != nil {
		t.Fatal(err)
	}
	const marker = "plaintext-marker-77aa the relay must never see this"
	rs, body := multiFor(t, alice, []byte(marker), bob, full, carol, dave)
	depositor := newNode(t, r)
	errs, err := mailboxclient.DepositMulti(ctx, depositor, r.id(), rs, body)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, mailboxclient.ErrQuotaMessages, nil, nil} {
		if !errors.Is(errs[i], want) {
			t.Errorf("recipient %d: %v, want %v", i, errs[i], want)
		}
	}
	if st := r.Stats(); st.SharedBodies != 1 || st.SharedBytes != int64(len(body)) || st.Messages != 4 {
		t.Errorf("stats %+v: want one shared body and 4 messages", st)
	}
	m := metricsText(t, r)
	for _, want := range []string{
		"petrel_relay_multi_deposits_total 1",
		"petrel_relay_multi_deposit_recipients_total 3",
		"petrel_relay_deposits_total 1",
		"petrel_relay_shared_bodies 1",
		`petrel_relay_refusals_total{reason="quota_messages"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	stranger := newUser(t)
	if _, err := mailboxclient.Fetch(ctx, depositor, r.id(), stranger.id, 10); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Errorf("a stranger's fetch: %v", err)
	}
	for _, u := range []user{bob, carol, dave} {
		got := 0
		_, err := mailboxclient.Drain(ctx, owner, r.id(), u.id, 10, func(mail []mailboxclient.Mail) error {
			for _, m := range mail {
				o, err := sealed.OpenSharedFor(m.Envelope, u.id)
				if err != nil {
					return err
				}
				if string(o.Payload) != marker || !o.From(alice.Public()) {
					t.Errorf("payload %q", o.Payload)
				}
				got++
			}
			return nil
		})
		if err != nil || got != 1 {
			t.Fatalf("drain: %d %v", got, err)
		}
	}
	if st := r.Stats(); st.SharedBodies != 0 || st.Messages != 1 {
		t.Errorf("after every owner acknowledged: %+v", st)
	}
	r.stop()
	found := 0
	err = filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found++
		if bytes.Contains(b, []byte("plaintext-marker")) {
			t.Errorf("%s holds the plaintext", path)
		}
		if bytes.Contains(b, alice.Public().SigningKey()) || bytes.Contains(b, alice.Public().DHPublicKey().Bytes()) {
			t.Errorf("%s holds the sender's identity key", path)
		}
		return nil
	})
	if err != nil || found < 2 {
		t.Fatalf("walked %d files: %v", found, err)
	}
}

// TestMultiDepositRefusals: too many recipients, a body over the limit, a header naming
// another mailbox, an unknown mailbox and a body that is not one are refused with their
// reasons (the first two whole, the others per recipient).
func TestMultiDepositRefusals(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.MaxRecipients = 3
	cfg.Mailbox.MaxEnvelopeBytes = 4 << 10
	r := startRelay(t, cfg)
	alice, _ := identity.Generate()
	bob, carol, eve := newUser(t), newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	register(t, h, r, carol)
	rs, body := multiFor(t, alice, []byte("x"), bob, carol, eve, newUser(t))
	_, err := mailboxclient.DepositMulti(ctx, h, r.id(), rs, body)
	var re *mailboxclient.RefusedError
	if !errors.Is(err, mailboxclient.ErrTooLarge) || !errors.As(err, &re) || !strings.Contains(re.Message, "at most 3 recipients") {
		t.Errorf("4 recipients at a relay taking 3: %v", err)
	}
	rs, big := multiFor(t, alice, make([]byte, 5000), bob)
	if _, err := mailboxclient.DepositMulti(ctx, h, r.id(), rs, big); !errors.Is(err, mailboxclient.ErrTooLarge) {
		t.Errorf("large body: %v", err)
	}
	rs, body = multiFor(t, alice, []byte("y"), bob, carol, eve)
	rs[1].Header = rs[0].Header // names bob's mailbox
	errs, err := mailboxclient.DepositMulti(ctx, h, r.id(), rs, body)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, mailboxclient.ErrBadEnvelope, mailboxclient.ErrUnknownMailbox} {
		if !errors.Is(errs[i], want) {
			t.Errorf("recipient %d: %v, want %v", i, errs[i], want)
		}
	}
	if _, err := mailboxclient.DepositMulti(ctx, h, r.id(), rs[:1], []byte{1, 2, 3}); !errors.Is(err, mailboxclient.ErrBadEnvelope) {
		t.Errorf("not a shared body: %v", err)
	}
	if _, err := mailboxclient.DepositMulti(ctx, h, r.id(), make([]mailboxclient.Recipient, relaywire.MaxRecipients+1), body); err == nil {
		t.Error("the client sent more than MaxRecipients")
	}
}
