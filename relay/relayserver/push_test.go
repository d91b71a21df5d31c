package relayserver_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/pushbridge/bridge"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

func pushConfig(allowPrivate bool) relayserver.Config {
	cfg := testConfig()
	cfg.Push = &relayserver.PushConfig{AllowPrivateEndpoints: allowPrivate}
	return cfg
}

// upRegistration is a UnifiedPush registration on srv with fresh app keys.
func upRegistration(t *testing.T, srv *pushtest.PushServer, id byte) (mailboxclient.PushRegistration, *pushtest.Subscription) {
	t.Helper()
	keys, err := pushtest.NewSubscription()
	if err != nil {
		t.Fatal(err)
	}
	ep := srv.NewEndpoint(keys)
	return mailboxclient.PushRegistration{ID: [16]byte{id}, Reg: relaywire.PushRegistration{
		Kind: relaywire.PushKindUnifiedPush, Address: ep, P256dh: keys.P256dh(), Auth: keys.Auth}}, keys
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Mail for an owner who is not watching wakes its UnifiedPush endpoint with the sealed
// envelope itself, which only the owner opens and which names nobody; while the owner
// watches, mail wakes nothing.
func TestPushWakesOfflineOwner(t *testing.T) {
	r := startRelay(t, pushConfig(true))
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	bob, alice := newUser(t), newUser(t)
	bh, ah := newNode(t, r), newNode(t, r)
	register(t, bh, r, bob)
	reg, _ := upRegistration(t, srv, 1)
	res, err := mailboxclient.SyncPush(context.Background(), bh, r.id(), bob.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}})
	if err != nil || res.Registered[0] != nil || len(res.States) != 1 || res.States[0].Dead {
		t.Fatalf("sync: %v %+v", err, res)
	}

	// Watching: this deposit wakes nothing.
	wctx, stopWatch := context.WithCancel(context.Background())
	notices, err := mailboxclient.Watch(wctx, bh, r.id(), bob.id)
	if err != nil {
		t.Fatal(err)
	}
	<-notices
	seal := func(text string) []byte {
		env, err := sealed.SealFrom(bob.mb, bob.id.Public(), alice.id, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	if err := mailboxclient.Deposit(context.Background(), ah, r.id(), bob.mb, seal("while watching")); err != nil {
		t.Fatal(err)
	}
	<-notices
	stopWatch()
	waitFor(t, func() bool { return metric(t, r, "petrel_relay_watchers") == 0 })

	env := seal("hello bob, secret text")
	if err := mailboxclient.Deposit(context.Background(), ah, r.id(), bob.mb, env); err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitPushes(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	carried, ok := bridge.ParsePayload(got[0].Plaintext)
	if !ok || !bytes.Equal(carried, env) {
		t.Fatalf("the push does not carry the second envelope (status %d)", got[0].Status)
	}
	o, err := sealed.OpenFor(carried, bob.id)
	if err != nil || string(o.Payload) != "hello bob, secret text" || !o.From(alice.id.Public()) {
		t.Fatalf("bob cannot open the pushed envelope: %v", err)
	}
	for _, leak := range [][]byte{[]byte("secret"), alice.id.Public().Bytes()[:32], []byte(alice.id.UserID())} {
		if bytes.Contains(got[0].Plaintext, leak) || bytes.Contains(got[0].Body, leak) {
			t.Fatalf("the push leaks %q", leak)
		}
	}
	waitFor(t, func() bool { return metric(t, r, `petrel_push_sent_total{provider="unifiedpush"}`) == 1 })
}

// A multi deposit wakes each offline recipient with the envelope that recipient fetches.
func TestPushAfterMultiDeposit(t *testing.T) {
	r := startRelay(t, pushConfig(true))
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	bob, carol, alice := newUser(t), newUser(t), newUser(t)
	h := newNode(t, r)
	for i, u := range []user{bob, carol} {
		register(t, h, r, u)
		reg, _ := upRegistration(t, srv, byte(i+1))
		if _, err := mailboxclient.SyncPush(context.Background(), h, r.id(), u.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}}); err != nil {
			t.Fatal(err)
		}
	}
	sb, err := sealed.SealBody([]byte("group text"))
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []mailboxclient.Recipient
	for _, u := range []user{bob, carol} {
		hdr, err := sb.HeaderFrom(u.mb, u.id.Public(), alice.id)
		if err != nil {
			t.Fatal(err)
		}
		rcpts = append(rcpts, mailboxclient.Recipient{Mailbox: u.mb, Header: hdr})
	}
	if _, err := mailboxclient.DepositMulti(context.Background(), h, r.id(), rcpts, sb.Body()); err != nil {
		t.Fatal(err)
	}
	got, err := srv.WaitPushes(waitCtx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, p := range got {
		env, _ := bridge.ParsePayload(p.Plaintext)
		for _, u := range []user{bob, carol} {
			if o, err := sealed.OpenSharedFor(env, u.id); err == nil && string(o.Payload) == "group text" {
				opened++
			}
		}
	}
	if opened != 2 {
		t.Fatalf("%d of 2 recipients open their pushed envelope", opened)
	}
}

// Attacks on registration: a registration another identity sealed (captured and replayed),
// one sealed to another key, an endpoint on the relay's own network (SSRF), a kind this
// relay has no credentials for — each refused, and nothing stored.
func TestPushRegistrationAttacks(t *testing.T) {
	r := startRelay(t, pushConfig(false))
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	bob, mallory := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	register(t, h, r, mallory)
	ctx := context.Background()

	// SSRF: a loopback endpoint (the push server) is refused without allow_private_endpoints.
	reg, _ := upRegistration(t, srv, 1)
	res, err := mailboxclient.SyncPush(ctx, h, r.id(), bob.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}})
	if err != nil || !errors.Is(res.Registered[0], mailboxclient.ErrPushRefused) || len(res.States) != 0 {
		t.Fatalf("loopback endpoint: %v %v, %d stored", err, res.Registered, len(res.States))
	}
	public := reg
	public.Reg.Address = "https://push.example/endpoint"
	apnsReg := mailboxclient.PushRegistration{ID: [16]byte{2}, Reg: relaywire.PushRegistration{
		Kind: relaywire.PushKindAPNs, Address: strings.Repeat("ab", 32), Topic: "chat.petrel"}}
	res, err = mailboxclient.SyncPush(ctx, h, r.id(), bob.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{public, apnsReg}})
	if err != nil || res.Registered[0] != nil || !errors.Is(res.Registered[1], mailboxclient.ErrPushRefused) || len(res.States) != 1 {
		t.Fatalf("public endpoint / apns without credentials: %v %v", err, res.Registered)
	}

	// Mallory replays bob's sealed registration under her own mailbox, and one she sealed
	// to another bridge key: both refused.
	key := res.BridgeKey
	bobSealed, _ := sealed.SealFrom(bob.mb, key, bob.id, relaywire.AppendPushRegistration(nil, public.Reg))
	other, _ := identity.Generate()
	wrongKey, _ := sealed.SealFrom(mallory.mb, other.Public(), mallory.id, relaywire.AppendPushRegistration(nil, public.Reg))
	asBobForMallory, _ := sealed.SealFrom(mallory.mb, key, bob.id, relaywire.AppendPushRegistration(nil, public.Reg))
	for name, env := range map[string][]byte{"bob's, replayed": bobSealed, "sealed to another key": wrongKey, "sealed by bob for mallory's mailbox": asBobForMallory} {
		code := rawRegister(t, h, r, mallory, env)
		if code != relaywire.CodePushRefused {
			t.Errorf("%s: code %v, want push_refused", name, code)
		}
	}
	res, err = mailboxclient.SyncPush(ctx, h, r.id(), mallory.id, mailboxclient.PushSync{})
	if err != nil || len(res.States) != 0 {
		t.Fatalf("mallory holds %d registrations: %v", len(res.States), err)
	}
}

// rawRegister sends one PushRegister of raw bytes as u and returns the relay's code.
func rawRegister(t *testing.T, h hostT, r *testRelay, u user, env []byte) relaywire.Code {
	t.Helper()
	rw := openRaw(t, h, r, "push")
	rw.send(relaywire.AppendAuth(nil, u.id.Public()))
	ch, _ := relaywire.ParseChallenge(rw.recv())
	sig := u.id.Sign(identity.DomainMailbox, relaywire.ChallengeMessage(ch, []byte(r.id()), []byte(h.ID())))
	rw.send(relaywire.AppendProof(nil, relaywire.Proof{Signature: sig}))
	if c := rw.result(); c != relaywire.OK {
		t.Fatalf("auth: %v", c)
	}
	rw.send(relaywire.AppendPushRegister(nil, relaywire.PushRegister{ID: [16]byte{9}, Sealed: env}))
	return rw.result()
}

// A registration its provider calls gone shows dead with the reason and is not pushed to
// again; do-not-disturb holds pushes back.
func TestPushDeadAndDoNotDisturb(t *testing.T) {
	r := startRelay(t, pushConfig(true))
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	bob, alice := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	ctx := context.Background()
	reg, _ := upRegistration(t, srv, 1)
	until := time.Now().Add(time.Hour).UnixMilli()
	if _, err := mailboxclient.SyncPush(ctx, h, r.id(), bob.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}, DND: &until}); err != nil {
		t.Fatal(err)
	}
	deposit := func() {
		env, _ := sealed.SealFrom(bob.mb, bob.id.Public(), alice.id, []byte("x"))
		if err := mailboxclient.Deposit(ctx, h, r.id(), bob.mb, env); err != nil {
			t.Fatal(err)
		}
	}
	deposit()
	waitFor(t, func() bool { return metric(t, r, "petrel_push_suppressed_dnd_total") == 1 })
	if n := len(srv.Pushes()); n != 0 {
		t.Fatalf("%d pushes during do-not-disturb", n)
	}
	off := int64(0)
	srv.Script(reg.Reg.Address, pushtest.Answer{Status: http.StatusGone})
	if _, err := mailboxclient.SyncPush(ctx, h, r.id(), bob.id, mailboxclient.PushSync{DND: &off}); err != nil {
		t.Fatal(err)
	}
	deposit()
	if _, err := srv.WaitPushes(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	var states []relaywire.PushState
	waitFor(t, func() bool {
		res, err := mailboxclient.SyncPush(ctx, h, r.id(), bob.id, mailboxclient.PushSync{})
		states = res.States
		return err == nil && len(states) == 1 && states[0].Dead
	})
	if states[0].Reason != "410 Gone" {
		t.Errorf("reason %q", states[0].Reason)
	}
	waitFor(t, func() bool { return metric(t, r, `petrel_push_dead_registrations_total{provider="unifiedpush"}`) == 1 })
}

// A relay without a push config has no bridge: the client says so.
func TestNoBridge(t *testing.T) {
	r := startRelay(t, testConfig())
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	if _, err := mailboxclient.SyncPush(context.Background(), h, r.id(), bob.id, mailboxclient.PushSync{}); !errors.Is(err, mailboxclient.ErrNoBridge) {
		t.Fatalf("relay without bridge: %v", err)
	}
}

// metric reads one series from the relay's /metrics.
func metric(t *testing.T, r *testRelay, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, r), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// waitFor polls cond until it holds (or fails the test after 20 s).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// {"push":{}} turns the bridge on with a VAPID key and a bridge key generated into the
// data directory (0600), kept across restarts; a typo in the push object is an error.
func TestPushConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/relay.json"
	if err := os.WriteFile(path, []byte(`{"listen":["/ip4/127.0.0.1/tcp/0"],"circuit":{"enabled":false},"push":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := relayserver.LoadConfig(path)
	if err != nil || cfg.Push == nil {
		t.Fatalf("load: %v", err)
	}
	data := t.TempDir()
	r := startRelayIn(t, cfg, data)
	for _, f := range []string{"push/vapid.json", "push/bridge.key"} {
		st, err := os.Stat(data + "/" + f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st)
		}
	}
	bob := newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	res, err := mailboxclient.SyncPush(context.Background(), h, r.id(), bob.id, mailboxclient.PushSync{})
	if err != nil {
		t.Fatal(err)
	}
	r.stop()
	r2 := startRelayIn(t, cfg, data)
	h2 := newNode(t, r2)
	res2, err := mailboxclient.SyncPush(context.Background(), h2, r2.id(), bob.id, mailboxclient.PushSync{})
	if err != nil || !res2.BridgeKey.Equal(res.BridgeKey) {
		t.Fatalf("bridge key changed across a restart: %v", err)
	}
	os.WriteFile(path, []byte(`{"push":{"min_intervall":"5s"}}`), 0o600)
	if _, err := relayserver.LoadConfig(path); err == nil {
		t.Fatal("a typo in push was accepted")
	}
}

// A bridge key replaced by the operator leaves stored registrations unreadable: each turns
// dead at its next use, with the reason, instead of silently never pushing.
func TestBridgeKeyReplaced(t *testing.T) {
	data := t.TempDir()
	cfg := pushConfig(true)
	r := startRelayIn(t, cfg, data)
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	bob, alice := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	reg, _ := upRegistration(t, srv, 1)
	if _, err := mailboxclient.SyncPush(context.Background(), h, r.id(), bob.id, mailboxclient.PushSync{Register: []mailboxclient.PushRegistration{reg}}); err != nil {
		t.Fatal(err)
	}
	r.stop()
	other, _ := identity.Generate()
	if err := os.WriteFile(data+"/push/bridge.key", other.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	r = startRelayIn(t, cfg, data)
	h = newNode(t, r)
	env, _ := sealed.SealFrom(bob.mb, bob.id.Public(), alice.id, []byte("x"))
	if err := mailboxclient.Deposit(context.Background(), h, r.id(), bob.mb, env); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		res, err := mailboxclient.SyncPush(context.Background(), h, r.id(), bob.id, mailboxclient.PushSync{})
		return err == nil && len(res.States) == 1 && res.States[0].Dead && strings.Contains(res.States[0].Reason, "no longer use it")
	})
	if n := len(srv.Pushes()); n != 0 {
		t.Fatalf("%d pushes with an unreadable registration", n)
	}
}

// With APNs and FCM credentials in the config, one deposit for an owner with an APNs and an
// FCM registration wakes both, content-free: a background push at priority 5 with the
// verified provider token, and a data-only FCM message with the OAuth bearer it was issued.
func TestPushAPNsAndFCMThroughRelay(t *testing.T) {
	dir := t.TempDir()
	key, err := pushtest.NewAPNsKey("KEY123", "TEAM456")
	if err != nil {
		t.Fatal(err)
	}
	ap := pushtest.NewAPNs(key, "chat.petrel.app")
	defer ap.Close()
	fc, err := pushtest.NewFCM("petrel-test")
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	for name, b := range map[string][]byte{"key.p8": key.P8, "ca.pem": ap.CertPEM(), "sa.json": fc.ServiceAccountJSON()} {
		if err := os.WriteFile(dir+"/"+name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.Push = &relayserver.PushConfig{
		APNs: &relayserver.APNsConfig{KeyFile: dir + "/key.p8", KeyID: "KEY123", TeamID: "TEAM456", Host: ap.URL, CAFile: dir + "/ca.pem"},
		FCM:  &relayserver.FCMConfig{ServiceAccountFile: dir + "/sa.json", Endpoint: fc.URL},
	}
	r := startRelay(t, cfg)
	bob, alice := newUser(t), newUser(t)
	h := newNode(t, r)
	register(t, h, r, bob)
	token := strings.Repeat("ab", 32)
	regs := []mailboxclient.PushRegistration{
		{ID: [16]byte{1}, Reg: relaywire.PushRegistration{Kind: relaywire.PushKindAPNs, Address: token, Topic: "chat.petrel.app"}},
		{ID: [16]byte{2}, Reg: relaywire.PushRegistration{Kind: relaywire.PushKindFCM, Address: "fcm-device-token"}},
	}
	res, err := mailboxclient.SyncPush(context.Background(), h, r.id(), bob.id, mailboxclient.PushSync{Register: regs})
	if err != nil || res.Registered[0] != nil || res.Registered[1] != nil {
		t.Fatalf("register: %v %v", err, res.Registered)
	}
	env, _ := sealed.SealFrom(bob.mb, bob.id.Public(), alice.id, []byte("secret"))
	if err := mailboxclient.Deposit(context.Background(), h, r.id(), bob.mb, env); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(ap.Pushes()) == 1 && len(fc.Pushes()) == 1 })
	a := ap.Pushes()[0]
	if a.Status != 200 || a.Token != token || a.PushType != "background" || a.Priority != "5" || bytes.Contains(a.Payload, []byte("secret")) {
		t.Errorf("APNs push %+v", a)
	}
	f := fc.Pushes()[0]
	if f.Status != 200 || f.Token != "fcm-device-token" || bytes.Contains(f.Body, []byte("secret")) || bytes.Contains(f.Body, env[:40]) {
		t.Errorf("FCM push %+v", f)
	}
}
