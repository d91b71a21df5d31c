package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/pushbridge/pushtest"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// TestPushWakesStoppedNode, with real processes: bob registers a UnifiedPush endpoint (a
// local UnifiedPush server); bob's node stops; alice sends 20 messages in 2 s. The relay's
// bridge wakes bob at most twice within 15 s (one push at once, one after the burst: every
// deposit accounted for, none left pending), each push decrypts with bob's keys to a sealed
// envelope only bob's identity opens, and none shows the text or alice. Bob starts again
// and drains all 20.
func TestPushWakesStoppedNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real petrel processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	srv := pushtest.NewPushServer(true)
	defer srv.Close()
	relay := newRelayProc(t, bin)
	relay.config = `{"metrics_addr": "127.0.0.1:0", "mailbox": {"peer_rate": 0, "mailbox_rate": 0},
		"push": {"allow_private_endpoints": true}}`
	relay.start()
	info, err := relayserver.ReadInfoFile(filepath.Join(relay.dir, "relay.json"))
	if err != nil || info.Metrics == "" {
		t.Fatalf("relay.json without metrics: %v", err)
	}
	metrics := info.Metrics
	relayAddr := relay.info.Addrs[0]
	for _, a := range relay.info.Addrs {
		if strings.HasPrefix(a, relay.listen+"/p2p/") {
			relayAddr = a
		}
	}
	logDir := t.TempDir()
	procs := newPetrelProcs(t, bin, logDir, "alice", "bob")
	alice, bob := procs[0], procs[1]
	for _, p := range procs {
		p.args = []string{"--relay", relayAddr}
		p.start()
	}
	ctx := context.Background()
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }

	reg, err := bob.cl.CreatePushRegistration(ctx, api.PushRegistrationRequest{Kind: "unifiedpush", Endpoint: srv.NewEndpoint(nil)})
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob's registration is active at the relay's bridge", func() error {
		regs, err := bob.cl.PushRegistrations(ctx)
		if err != nil || len(regs) != 1 || regs[0].State != "active" || regs[0].Relays[0].State != "active" {
			return fmt.Errorf("%+v %v", regs, err)
		}
		return nil
	})
	phase("registration active")
	inv, err := bob.cl.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var toBob api.Contact
	if status, err := alice.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &toBob); err != nil || status != 201 {
		t.Fatalf("alice adds bob: %d %v", status, err)
	}
	conv := toBob.ConversationID
	if _, err := alice.cl.Send(ctx, conv, "hello", crashMarker+" while bob is online"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob gets the first message", func() error {
		h, err := history(bob.cl, conv)
		if err != nil || len(h) != 1 {
			return fmt.Errorf("%d messages, %v", len(h), err)
		}
		return nil
	})
	me, err := alice.cl.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bob.stop()
	phase("bob stopped")
	before := len(srv.Pushes())
	deposits0 := relayMetric(t, metrics, "petrel_relay_deposits_total")
	const n = 20
	burst := time.Now()
	for i := range n {
		id := "m" + strconv.Itoa(i)
		if _, err := alice.cl.Send(ctx, conv, id, crashBody(id)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond) // 20 messages spread over 2 s, as a person typing fast
	}
	phase("alice sent 20")
	wait.For(t, "every message is deposited at the relay", func() error {
		if d := relayMetric(t, metrics, "petrel_relay_deposits_total") - deposits0; d < n {
			return fmt.Errorf("%v deposits", d)
		}
		return nil
	})
	// Every deposit is accounted for: two pushes, and the others coalesced into them; so no
	// push is left pending, and none will follow.
	wait.For(t, "the bridge accounts for every deposit", func() error {
		deposits := relayMetric(t, metrics, "petrel_relay_deposits_total") - deposits0
		sent := relayMetric(t, metrics, `petrel_push_sent_total{provider="unifiedpush"}`)
		coalesced := relayMetric(t, metrics, "petrel_push_coalesced_total")
		if sent+coalesced != deposits {
			return fmt.Errorf("%v deposits, %v pushes sent, %v coalesced", deposits, sent, coalesced)
		}
		return nil
	})
	got := srv.Pushes()[before:]
	phase(fmt.Sprintf("%d pushes", len(got)))
	if len(got) == 0 || len(got) > 2 {
		t.Fatalf("%d pushes for a burst of %d, want 1 or 2", len(got), n)
	}
	for i, p := range got {
		if d := p.At.Sub(burst); d > 15*time.Second {
			t.Errorf("push %d arrived %v after the burst began (want within 15 s)", i, d)
		}
		if p.Status != 201 {
			t.Errorf("push %d answered %d", i, p.Status)
		}
	}

	// Bob's keys (read from his stopped node's store) open every push.
	st, err := store.Open(bob.dir, []byte(crashPassphrase), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var bobID *identity.Identity
	err = st.View(func(tx *store.Tx) error {
		b, err := tx.Get([]byte("cfg/identity"))
		if err != nil {
			return err
		}
		if bobID, err = identity.Unmarshal(b); err != nil {
			return err
		}
		for i, p := range got {
			env, err := push.OpenUnifiedPush(tx, reg.ID, p.Body)
			if err != nil {
				return fmt.Errorf("push %d: %w", i, err)
			}
			if len(env) == 0 {
				return fmt.Errorf("push %d is a bare wake-up; a message envelope fits", i)
			}
			if _, err := openForBob(env, bobID); err != nil {
				return fmt.Errorf("push %d: bob cannot open the envelope: %w", i, err)
			}
			for _, leak := range []string{crashMarker, me.UserID, me.PeerID, me.Name} {
				if bytes.Contains(env, []byte(leak)) || bytes.Contains(p.Body, []byte(leak)) {
					return fmt.Errorf("push %d shows %q", i, leak)
				}
			}
		}
		return nil
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	nodetest.NoPlaintext(t, relay.dir, crashMarker, crashPassphrase)

	bob.start()
	phase("bob started")
	wait.For(t, "bob drains all 20, once, in order", func() error {
		h, err := history(bob.cl, conv)
		if err != nil {
			return err
		}
		if err := duplicates(h); err != nil {
			return wait.Final(err)
		}
		if len(h) != n+1 {
			return fmt.Errorf("bob has %d messages", len(h))
		}
		for i, m := range h[1:] {
			if want := crashBody("m" + strconv.Itoa(i)); m.Body != want {
				return wait.Final(fmt.Errorf("message %d is %q, want %q", i+1, m.Body, want))
			}
		}
		return nil
	})
	phase("bob drained all 20")
}

// openForBob opens a pushed envelope as bob's node would fetch it (plain or shared).
func openForBob(env []byte, id *identity.Identity) (*sealed.Opened, error) {
	if sealed.IsShared(env) {
		return sealed.OpenSharedFor(env, id)
	}
	return sealed.OpenFor(env, id)
}

// relayMetric reads one series of a relay's /metrics (-1 when absent).
func relayMetric(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(errors.Join(err, fmt.Errorf("metric %s", series)))
	}
	return v
}
