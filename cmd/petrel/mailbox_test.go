package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestOfflineContactGetsMailFromRelay: bob is stopped while alice sends 100 messages; they
// wait sealed in bob's mailbox at his home relay (alice sees them sent), and when bob starts
// he gets all 100 exactly once and in order, and alice sees them delivered. Carol, who adds
// bob's invite while he is offline, starts a session from the relay's prekey directory and
// her first message arrives as a message request. The relay's data directory holds none of
// the bodies, and no node's either.
func TestOfflineContactGetsMailFromRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real petrel processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	logDir := t.TempDir()
	relay := newRelayProc(t, bin)
	relay.start()
	var relayAddr string
	for _, a := range relay.info.Addrs {
		if strings.HasPrefix(a, relay.listen+"/p2p/") {
			relayAddr = a
		}
	}
	if relayAddr == "" {
		t.Fatalf("no %s address in relay.json: %v", relay.listen, relay.info.Addrs)
	}
	procs := map[string]*petrelProc{}
	for _, name := range []string{"alice", "bob", "carol"} {
		p := newPetrelProc(t, bin, name, logDir)
		p.args = []string{"--relay", relayAddr}
		p.start()
		procs[name] = p
	}
	alice, bob, carol := procs["alice"], procs["bob"], procs["carol"]
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	ctx := context.Background()

	inv, err := bob.cl.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(relayList(t, bob), relayAddr) {
		t.Fatalf("bob's /v1/me does not list his relay %s", relayAddr)
	}
	var toBob api.Contact
	if status, err := alice.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &toBob); err != nil || status != 201 {
		t.Fatalf("alice adds bob: %d %v", status, err)
	}
	conv := toBob.ConversationID
	if _, err := alice.cl.Send(ctx, conv, "hello", crashMarker+" hello while bob is online"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob gets the first message", func() error {
		h, err := history(bob.cl, conv)
		if err != nil || len(h) != 1 {
			return fmt.Errorf("%d messages, %v", len(h), err)
		}
		return nil
	})
	phase("bob gets the first message")
	wait.For(t, "bob's relay is connected", func() error { return relayConnected(bob) })

	bob.stop()
	phase("bob stopped")
	const n = 100
	for i := range n {
		id := "m" + strconv.Itoa(i)
		if _, err := alice.cl.Send(ctx, conv, id, crashBody(id)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	wait.For(t, "alice's messages wait at the relay (sent)", func() error {
		h, err := history(alice.cl, conv)
		if err != nil {
			return err
		}
		for _, m := range h {
			if m.Status == api.StatusPending || m.Status == api.StatusFailed {
				return fmt.Errorf("%s is %s %s", m.ClientMsgID, m.Status, m.Error)
			}
		}
		return nil
	})
	phase("alice's messages wait at the relay (sent)")
	// Carol adds bob while he is away: the session starts from the relay's directory.
	var carolToBob api.Contact
	if status, err := carol.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &carolToBob); err != nil || status != 201 {
		t.Fatalf("carol adds bob while he is offline: %d %v", status, err)
	}
	if _, err := carol.cl.Send(ctx, carolToBob.ConversationID, "c1", crashMarker+" carol writes to offline bob"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "carol's message waits at the relay", func() error {
		h, err := history(carol.cl, carolToBob.ConversationID)
		if err != nil || len(h) != 1 || h[0].Status != api.StatusSent {
			return fmt.Errorf("%+v %v", h, err)
		}
		return nil
	})
	phase("carol's message waits at the relay")
	nodetest.NoPlaintext(t, relay.dir, crashMarker, crashPassphrase)

	bob.start()
	phase("bob started")
	wait.For(t, "bob drains all 100, once, in order", func() error {
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
	phase("bob drains all 100, once, in order")
	wait.For(t, "alice sees all delivered", func() error {
		h, err := history(alice.cl, conv)
		if err != nil {
			return err
		}
		for _, m := range h {
			if m.Status != api.StatusDelivered && m.Status != api.StatusRead {
				return fmt.Errorf("%s is %s", m.ClientMsgID, m.Status)
			}
		}
		return nil
	})
	phase("alice sees all delivered")
	wait.For(t, "carol's message reaches bob as a request", func() error {
		cs, err := bob.cl.Contacts(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.ConversationID != carolToBob.ConversationID {
				continue
			}
			if c.Request != api.RequestPending {
				return wait.Final(fmt.Errorf("carol at bob: request %q, want pending", c.Request))
			}
			h, err := history(bob.cl, c.ConversationID)
			if err != nil || len(h) != 1 {
				return fmt.Errorf("%d messages, %v", len(h), err)
			}
			return nil
		}
		return errors.New("no contact for carol yet")
	})
	phase("carol's message reaches bob as a request")

	for _, p := range []*petrelProc{alice, bob, carol} {
		p.stop()
		phase("stopped " + p.name)
		nodetest.NoPlaintext(t, p.dir, crashMarker, crashPassphrase)
	}
	nodetest.NoPlaintext(t, relay.dir, crashMarker, crashPassphrase)
}

func relayList(t *testing.T, p *petrelProc) string {
	t.Helper()
	me, err := p.cl.Me(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(me.Relays, " ")
}

func relayConnected(p *petrelProc) error {
	st, err := p.cl.Status(context.Background())
	if err != nil {
		return err
	}
	for _, r := range st.Relays {
		if !r.Connected {
			return fmt.Errorf("relay %s not connected", r.Addr)
		}
	}
	if len(st.Relays) == 0 {
		return errors.New("no relay in /v1/status")
	}
	return nil
}
