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
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

func prekeyUpload(t *testing.T, id *identity.Identity, nOTK, nPQ int) (*prekey.Store, *mailboxclient.Upload) {
	t.Helper()
	ps, err := prekey.NewStore(id, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ps, &mailboxclient.Upload{
		SignedPrekey: ps.SignedPrekey(), LastResort: ps.LastResortPrekey(),
		OneTime: ps.OneTimePrekeys()[:nOTK], PQOneTime: ps.PQOneTimePrekeys()[:nPQ],
	}
}

// TestOneTimePrekeysOnceThenLastResort: each uploaded one-time prekey (X25519 and PQ) is
// handed out to exactly one requester; then bundles carry the last-resort PQ key and no
// X25519 one-time key; the owner sees the pool shrink and can refill.
func TestOneTimePrekeysOnceThenLastResort(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	bobNode := newNode(t, r)
	alice := newNode(t, r)
	if _, err := mailboxclient.FetchBundle(ctx, alice, r.id(), bob.id.Public()); !errors.Is(err, mailboxclient.ErrUnknownMailbox) {
		t.Errorf("bundle of an unregistered user: %v", err)
	}
	if _, _, err := uploadAs(t, bobNode, r, bob, 1, 1); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Errorf("upload before registering: %v", err)
	}
	register(t, bobNode, r, bob)
	if _, err := mailboxclient.FetchBundle(ctx, alice, r.id(), bob.id.Public()); !errors.Is(err, mailboxclient.ErrNoPrekeys) {
		t.Errorf("bundle before upload: %v", err)
	}
	ps, rem, err := uploadAs(t, bobNode, r, bob, 3, 2)
	if err != nil || rem != (mailboxclient.Remaining{OneTime: 3, PQOneTime: 2}) {
		t.Fatalf("upload: %+v %v", rem, err)
	}
	seenOTK, seenPQ := map[uint32]bool{}, map[uint32]bool{}
	for i := range 5 {
		b, err := mailboxclient.FetchBundle(ctx, alice, r.id(), bob.id.Public())
		if err != nil {
			t.Fatalf("bundle %d: %v", i, err)
		}
		if !b.Identity().Equal(bob.id.Public()) || b.SignedPrekey().ID() != ps.SignedPrekey().ID() {
			t.Errorf("bundle %d: wrong identity or signed prekey", i)
		}
		k, ok := b.OneTimePrekey()
		if ok != (i < 3) {
			t.Errorf("bundle %d: one-time prekey present = %v", i, ok)
		}
		if ok {
			if seenOTK[k.ID()] {
				t.Errorf("one-time prekey %d handed out twice", k.ID())
			}
			seenOTK[k.ID()] = true
		}
		pq := b.PQPrekey()
		switch {
		case i < 2 && pq.Kind() == prekey.OneTime:
			if seenPQ[pq.ID()] {
				t.Errorf("PQ one-time prekey %d handed out twice", pq.ID())
			}
			seenPQ[pq.ID()] = true
		case i >= 2 && pq.Kind() == prekey.LastResort && pq.ID() == ps.LastResortPrekey().ID():
		default:
			t.Errorf("bundle %d: PQ prekey %d of kind %s", i, pq.ID(), pq.Kind())
		}
	}
	rem, err = mailboxclient.PrekeyCount(ctx, bobNode, r.id(), bob.id)
	if err != nil || rem != (mailboxclient.Remaining{}) {
		t.Errorf("count after draining: %+v %v", rem, err)
	}
	// The pool survives a restart: consumed keys stay consumed.
	r.stop()
	r2 := startRelayIn(t, testConfig(), r.dir)
	h := newNode(t, r2)
	if b, err := mailboxclient.FetchBundle(ctx, h, r2.id(), bob.id.Public()); err != nil || b.PQPrekey().Kind() != prekey.LastResort {
		t.Errorf("after restart: %v", err)
	} else if _, ok := b.OneTimePrekey(); ok {
		t.Error("a consumed one-time prekey came back after restart")
	}
}

func uploadAs(t *testing.T, h host.Host, r *testRelay, u user, nOTK, nPQ int) (*prekey.Store, mailboxclient.Remaining, error) {
	t.Helper()
	ps, up := prekeyUpload(t, u.id, nOTK, nPQ)
	rem, err := mailboxclient.UploadPrekeys(ctx, h, r.id(), u.id, up)
	return ps, rem, err
}

// TestBadPrekeySignaturesRefusedAtUpload: prekeys signed by another identity (or a
// one-time PQ key in the last-resort slot) are refused with bad_prekey, and the directory
// keeps serving the good upload.
func TestBadPrekeySignaturesRefusedAtUpload(t *testing.T) {
	r := startRelay(t, testConfig())
	bob, mallory := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	_, good := prekeyUpload(t, bob.id, 2, 2)
	if _, err := mailboxclient.UploadPrekeys(ctx, h, r.id(), bob.id, good); err != nil {
		t.Fatal(err)
	}
	_, foreign := prekeyUpload(t, mallory.id, 2, 2)
	mixes := map[string]*mailboxclient.Upload{
		"signed prekey of another identity": {SignedPrekey: foreign.SignedPrekey, LastResort: good.LastResort},
		"last resort of another identity":   {SignedPrekey: good.SignedPrekey, LastResort: foreign.LastResort},
		"PQ one-time of another identity":   {SignedPrekey: good.SignedPrekey, LastResort: good.LastResort, PQOneTime: foreign.PQOneTime},
	}
	for name, up := range mixes {
		_, err := mailboxclient.UploadPrekeys(ctx, h, r.id(), bob.id, up)
		if !errors.Is(err, mailboxclient.ErrBadPrekey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A one-time PQ key in the last-resort slot: malformed at the relay.
	raw := relaywire.AppendUpload(nil, &relaywire.Upload{SignedPrekey: good.SignedPrekey, LastResort: good.PQOneTime[0]})
	if _, err := relaywire.ParseUpload(raw); err == nil {
		t.Error("codec accepted a one-time PQ key as last resort")
	}
	b, err := mailboxclient.FetchBundle(ctx, h, r.id(), bob.id.Public())
	if err != nil || b.SignedPrekey().ID() != good.SignedPrekey.ID() {
		t.Errorf("bundle after refused uploads: %v", err)
	}
}

// TestMetricsEndpoint: /metrics shows the counters and gauges, /healthz answers ok.
func TestMetricsEndpoint(t *testing.T) {
	cfg := testConfig()
	cfg.Mailbox.MaxMessages = 1
	r := startRelay(t, cfg)
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "one"))
	mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "two"))
	mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10)
	get := func(path string) string {
		resp, err := http.Get(r.info.Metrics + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		return string(b)
	}
	if got := get("/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("healthz %q", got)
	}
	m := get("/metrics")
	for _, want := range []string{
		"petrel_relay_deposits_total 1",
		"petrel_relay_fetches_total 1",
		"petrel_relay_fetched_messages_total 1",
		`petrel_relay_refusals_total{reason="quota_messages"} 1`,
		`petrel_relay_refusals_total{reason="rate_limited"} 0`,
		"petrel_relay_mailboxes 1",
		"petrel_relay_stored_messages 1",
		"petrel_relay_connected_peers 1",
		"petrel_relay_registrations_total 1",
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(m, "petrel_relay_stored_bytes ") {
		t.Error("no stored bytes gauge")
	}
}

// TestNoPlaintextInRelayDataDir: a known plaintext and the sender's identity key, sent
// through a sealed envelope, appear nowhere in the relay's data directory.
func TestNoPlaintextInRelayDataDir(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	const marker = "plaintext-marker-4f1c2b the relay must never see this"
	for range 50 {
		if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, marker)); err != nil {
			t.Fatal(err)
		}
	}
	r.stop()                   // flush everything to disk
	pub := []byte(s.sign[32:]) // the Ed25519 public key half
	found := 0
	err := filepath.WalkDir(r.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found++
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte("plaintext-marker")) {
			t.Errorf("%s holds the plaintext", path)
		}
		if bytes.Contains(b, pub) {
			t.Errorf("%s holds the sender's identity key", path)
		}
		return nil
	})
	if err != nil || found < 2 {
		t.Fatalf("walked %d files: %v", found, err)
	}
}
