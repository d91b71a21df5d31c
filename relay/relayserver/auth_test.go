package relayserver_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// rawStream is a hand-driven stream to the relay, for hostile or non-standard clients.
type rawStream struct {
	t  *testing.T
	st network.Stream
	r  *bufio.Reader
	w  *bufio.Writer
}

func openRaw(t *testing.T, h host.Host, r *testRelay, proto string) *rawStream {
	t.Helper()
	st, err := h.NewStream(ctx, r.id(), protocol.ID("/petrel/"+proto+"/1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { st.Reset() })
	return &rawStream{t: t, st: st, r: bufio.NewReader(st), w: bufio.NewWriter(st)}
}

func (s *rawStream) sendRaw(b []byte) {
	s.t.Helper()
	if _, err := s.st.Write(b); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawStream) send(body []byte) {
	s.t.Helper()
	if err := relaywire.WriteFrame(s.w, body); err != nil {
		s.t.Fatal(err)
	}
	if err := s.w.Flush(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawStream) recv() []byte {
	s.t.Helper()
	b, err := relaywire.ReadFrame(s.r, nil, 0)
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	return b
}

// result reads a Result frame and returns its code.
func (s *rawStream) result() relaywire.Code {
	s.t.Helper()
	b := s.recv()
	res, err := relaywire.ParseResult(b)
	if err != nil {
		s.t.Fatalf("want a result, got %x: %v", b, err)
	}
	return res.Code
}

// auth claims claimed, then answers the challenge with sign(challenge).
func (s *rawStream) auth(claimed *identity.PublicIdentity, sign func(challenge []byte) []byte) relaywire.Code {
	s.t.Helper()
	s.send(relaywire.AppendAuth(nil, claimed))
	ch, err := relaywire.ParseChallenge(s.recv())
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(relaywire.AppendProof(nil, relaywire.Proof{Signature: sign(ch)}))
	return s.result()
}

func signFor(id *identity.Identity, relay, owner peer.ID) func([]byte) []byte {
	return func(ch []byte) []byte {
		return id.Sign(identity.DomainMailbox, relaywire.ChallengeMessage(ch, []byte(relay), []byte(owner)))
	}
}

// TestStrangerCannotFetchOrAck: only a proof by the mailbox's identity key, for this
// relay, this owner peer and this challenge, opens the mailbox. A stranger's key, a
// replayed signature, a signature made for another relay or for another peer are refused
// with unauthorized, and the mail stays.
func TestStrangerCannotFetchOrAck(t *testing.T) {
	r := startRelay(t, testConfig())
	other := startRelay(t, testConfig())
	bob := newUser(t)
	bobNode := newNode(t, r)
	register(t, bobNode, r, bob)
	s := newSender(t)
	if err := mailboxclient.Deposit(ctx, bobNode, r.id(), bob.mb, s.seal(t, bob, "for bob only")); err != nil {
		t.Fatal(err)
	}
	eve := newUser(t)
	eveNode := newNode(t, r)

	// Eve claims bob's identity but signs with her key.
	if code := openRaw(t, eveNode, r, "mailbox").auth(bob.id.Public(), signFor(eve.id, r.id(), eveNode.ID())); code != relaywire.CodeUnauthorized {
		t.Errorf("wrong key: %s", code)
	}
	// Eve with her own key and no mailbox: not registered.
	if _, err := mailboxclient.Fetch(ctx, eveNode, r.id(), eve.id, 10); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Errorf("eve's own fetch: %v", err)
	}
	// A signature bob made on an earlier stream, replayed on a new one (new challenge).
	var captured []byte
	bobStream := openRaw(t, bobNode, r, "mailbox")
	if code := bobStream.auth(bob.id.Public(), func(ch []byte) []byte {
		captured = signFor(bob.id, r.id(), bobNode.ID())(ch)
		return captured
	}); code != relaywire.OK {
		t.Fatalf("bob's own auth: %s", code)
	}
	if code := openRaw(t, bobNode, r, "mailbox").auth(bob.id.Public(), func([]byte) []byte { return captured }); code != relaywire.CodeUnauthorized {
		t.Errorf("replayed signature: %s", code)
	}
	// Bob's key, but the signature names another relay (as if relayed from a proof bob gave
	// to that relay), or another owner peer (eve forwarding bob's fresh proof).
	if code := openRaw(t, bobNode, r, "mailbox").auth(bob.id.Public(), signFor(bob.id, other.id(), bobNode.ID())); code != relaywire.CodeUnauthorized {
		t.Errorf("signature for another relay: %s", code)
	}
	if code := openRaw(t, eveNode, r, "mailbox").auth(bob.id.Public(), signFor(bob.id, r.id(), bobNode.ID())); code != relaywire.CodeUnauthorized {
		t.Errorf("signature for another peer: %s", code)
	}
	// Fetch, ack, watch before authenticating: refused.
	raw := openRaw(t, eveNode, r, "mailbox")
	raw.send(relaywire.AppendFetch(nil, 10))
	if code := raw.result(); code != relaywire.CodeBadRequest {
		t.Errorf("unauthenticated fetch: %s", code)
	}
	raw = openRaw(t, eveNode, r, "mailbox")
	raw.send(relaywire.AppendAck(nil, []uint64{1}))
	if code := raw.result(); code != relaywire.CodeBadRequest {
		t.Errorf("unauthenticated ack: %s", code)
	}
	if n := r.Stats().Messages; n != 1 {
		t.Fatalf("bob's mailbox holds %d", n)
	}
	mail, err := mailboxclient.Fetch(ctx, bobNode, r.id(), bob.id, 10)
	if err != nil || len(mail) != 1 {
		t.Errorf("bob's fetch: %d %v", len(mail), err)
	}
}

// TestHostileFramesGetErrorsAndRelayKeepsServing: garbage, oversized and truncated frames,
// wrong frame types and protocol violations each get a reason (or a reset) and the relay
// keeps serving well-formed traffic.
func TestHostileFramesGetErrorsAndRelayKeepsServing(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	s := newSender(t)
	hostile := newNode(t, r)
	cases := []struct {
		name, proto string
		raw         []byte
		want        relaywire.Code
	}{
		{"non-minimal length", "mailbox", []byte{0x80, 0x00}, relaywire.CodeBadRequest},
		{"length over 64 bits", "mailbox", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, relaywire.CodeBadRequest},
		{"frame over the envelope limit", "mailbox", []byte{0xff, 0xff, 0xff, 0x7f}, relaywire.CodeTooLarge},
		{"unknown frame type", "mailbox", []byte{2, 0x77, 0}, relaywire.CodeBadRequest},
		{"empty frame", "mailbox", []byte{0}, relaywire.CodeBadRequest},
		{"malformed deposit", "mailbox", []byte{2, relaywire.TypeDeposit, 0}, relaywire.CodeBadRequest},
		{"auth with garbage identity", "mailbox", append([]byte{130, 1, relaywire.TypeAuth}, make([]byte, 129)...), relaywire.CodeBadRequest},
		{"prekeydir garbage", "prekeydir", []byte{3, 0x13, 1, 2}, relaywire.CodeBadRequest},
		{"malformed upload", "prekeydir", []byte{2, relaywire.TypeUpload, 9}, relaywire.CodeBadRequest},
	}
	for _, c := range cases {
		raw := openRaw(t, hostile, r, c.proto)
		raw.sendRaw(c.raw)
		if got := raw.result(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// A deposit stream that turns into something else.
	raw := openRaw(t, hostile, r, "mailbox")
	raw.send(relaywire.AppendDeposit(nil, relaywire.Deposit{Mailbox: bob.mb, Envelope: s.seal(t, bob, "ok")}))
	raw.send(relaywire.AppendWatch(nil))
	if a, b := raw.result(), raw.result(); a != relaywire.OK || b != relaywire.CodeBadRequest {
		t.Errorf("deposit then watch: %s, %s", a, b)
	}
	// Truncated frames and abrupt resets.
	for _, b := range [][]byte{{10, 1, 2}, {0x80}} {
		raw := openRaw(t, hostile, r, "mailbox")
		raw.sendRaw(b)
		raw.st.CloseWrite()
		if _, err := relaywire.ReadFrame(raw.r, nil, 0); err == nil {
			t.Errorf("truncated %x: relay answered", b)
		}
	}
	openRaw(t, hostile, r, "mailbox").st.Reset()
	// Still serving.
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "after the storm")); err != nil {
		t.Fatal(err)
	}
	if mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10); err != nil || len(mail) != 2 {
		t.Errorf("fetch after hostile frames: %d %v", len(mail), err)
	}
}

// TestRandomGarbageNeverBreaksTheRelay: 300 streams of random bytes (some starting with a
// valid frame type and length) on both protocols; the relay answers or resets each and
// still serves a deposit and a fetch afterwards.
func TestRandomGarbageNeverBreaksTheRelay(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	hostile := newNode(t, r)
	rng := rand.New(rand.NewPCG(5, 17))
	for i := range 300 {
		proto := "mailbox"
		if i%2 == 1 {
			proto = "prekeydir"
		}
		junk := make([]byte, rng.IntN(300))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%3 == 0 && len(junk) > 2 { // a plausible frame header: length, a real type
			junk[0] = byte(len(junk) - 1)
			junk[1] = byte(1 + rng.IntN(0x14))
		}
		raw := openRaw(t, hostile, r, proto)
		raw.st.SetDeadline(time.Now().Add(2 * time.Second))
		raw.st.Write(junk)
		raw.st.CloseWrite()
		io.Copy(io.Discard, raw.st) // whatever the relay answers, until it closes or resets
	}
	s := newSender(t)
	if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, s.seal(t, bob, "still here")); err != nil {
		t.Fatal(err)
	}
	if mail, err := mailboxclient.Fetch(ctx, h, r.id(), bob.id, 10); err != nil || len(mail) != 1 {
		t.Fatalf("fetch after garbage: %d %v", len(mail), err)
	}
}

// TestRegistrationPolicies: open registers anyone; invite needs a listed code; allowlist
// needs the registering peer on the list; registrations are rate limited per peer.
func TestRegistrationPolicies(t *testing.T) {
	open := startRelay(t, testConfig())
	u := newUser(t)
	if err := mailboxclient.Register(ctx, newNode(t, open), open.id(), u.id); err != nil {
		t.Errorf("open: %v", err)
	}

	cfg := testConfig()
	cfg.Registration = relayserver.Registration{Policy: relayserver.PolicyInvite, InviteCodes: []string{"garden-2026"}}
	inv := startRelay(t, cfg)
	h := newNode(t, inv)
	if err := mailboxclient.Register(ctx, h, inv.id(), u.id); !errors.Is(err, mailboxclient.ErrRegistrationRefused) {
		t.Errorf("invite, no code: %v", err)
	}
	if err := mailboxclient.Register(ctx, h, inv.id(), u.id, mailboxclient.WithInvite("garden-2025")); !errors.Is(err, mailboxclient.ErrRegistrationRefused) {
		t.Errorf("invite, wrong code: %v", err)
	}
	if err := mailboxclient.Register(ctx, h, inv.id(), u.id, mailboxclient.WithInvite("garden-2026")); err != nil {
		t.Errorf("invite, right code: %v", err)
	}
	// Registered: fetching needs no code.
	if _, err := mailboxclient.Fetch(ctx, h, inv.id(), u.id, 1); err != nil {
		t.Errorf("fetch after invite registration: %v", err)
	}

	member := newNode(t, nil)
	cfg = testConfig()
	cfg.Registration = relayserver.Registration{Policy: relayserver.PolicyAllowList, AllowPeers: []string{member.ID().String()}}
	al := startRelay(t, cfg)
	connect(t, member, al)
	stranger := newNode(t, al)
	if err := mailboxclient.Register(ctx, stranger, al.id(), u.id); !errors.Is(err, mailboxclient.ErrRegistrationRefused) {
		t.Errorf("allowlist, stranger: %v", err)
	}
	if err := mailboxclient.Register(ctx, member, al.id(), u.id); err != nil {
		t.Errorf("allowlist, member: %v", err)
	}
	// One peer cannot register throwaway identities without end.
	cfg = testConfig()
	cfg.Registration.Rate, cfg.Registration.Burst = 0.001, 3
	lim := startRelay(t, cfg)
	spammer := newNode(t, lim)
	var refused error
	for range 5 {
		if err := mailboxclient.Register(ctx, spammer, lim.id(), newUser(t).id); err != nil {
			refused = err
		}
	}
	if !errors.Is(refused, mailboxclient.ErrRateLimited) || lim.Stats().Mailboxes != 3 {
		t.Errorf("registration flood: %v, %d mailboxes", refused, lim.Stats().Mailboxes)
	}
	// Bad policies are configuration errors.
	bad := testConfig()
	bad.Registration = relayserver.Registration{Policy: relayserver.PolicyInvite}
	if _, err := relayserver.New(bad, relayserver.Options{DataDir: t.TempDir()}); err == nil {
		t.Error("invite policy without codes accepted")
	}
}

// TestClientSurvivesHostileRelay: a "relay" that answers with garbage, wrong frames or
// nothing makes every client call fail with an error (ErrProtocol or a deadline), never a
// panic or a hang.
func TestClientSurvivesHostileRelay(t *testing.T) {
	evil := newListeningNode(t)
	answers := [][]byte{
		{0x80, 0x00},                             // non-minimal length
		{3, relaywire.TypeResult, 0, 0xff},       // invalid UTF-8 message
		{1, relaywire.TypeFetchEnd},              // truncated body
		{2, relaywire.TypeChallenge, 1},          // short challenge
		{5, relaywire.TypeMail, 0, 0, 0, 0},      // short mail
		{2, relaywire.TypeBundle, 1},             // bogus bundle
		{},                                       // silence, then close
		{2, relaywire.TypeNotice, 0x80},          // bad uvarint
		{3, relaywire.TypeRemaining, 0xff, 0x01}, // remaining missing a count
	}
	next := make(chan []byte, 1)
	handler := func(st network.Stream) {
		defer st.Close()
		st.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { _, _ = bufio.NewReader(st).ReadByte() }()
		st.Write(<-next)
	}
	evil.SetStreamHandler(relaywire.MailboxProtocol, handler)
	evil.SetStreamHandler(relaywire.PrekeyDirProtocol, handler)
	h := newNode(t, nil)
	if err := h.Connect(ctx, peer.AddrInfo{ID: evil.ID(), Addrs: evil.Addrs()}); err != nil {
		t.Fatal(err)
	}
	u := newUser(t)
	calls := map[string]func(context.Context) error{
		"register": func(c context.Context) error { return mailboxclient.Register(c, h, evil.ID(), u.id) },
		"deposit":  func(c context.Context) error { return mailboxclient.Deposit(c, h, evil.ID(), u.mb, []byte("e")) },
		"fetch": func(c context.Context) error {
			_, err := mailboxclient.Fetch(c, h, evil.ID(), u.id, 5)
			return err
		},
		"bundle": func(c context.Context) error {
			_, err := mailboxclient.FetchBundle(c, h, evil.ID(), u.id.Public())
			return err
		},
		"watch": func(c context.Context) error {
			_, err := mailboxclient.Watch(c, h, evil.ID(), u.id)
			return err
		},
		"count": func(c context.Context) error {
			_, err := mailboxclient.PrekeyCount(c, h, evil.ID(), u.id)
			return err
		},
	}
	for _, a := range answers {
		for name, call := range calls {
			next <- a
			c, cancel := context.WithTimeout(ctx, 3*time.Second)
			if err := call(c); err == nil {
				t.Errorf("%s against answer %x: no error", name, a)
			}
			cancel()
			select {
			case <-next: // the handler never ran (the call failed before opening)
			default:
			}
		}
	}
}
