package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// TestNodesFailOverBetweenClusterAddresses: alice and bob run real `petrel run` processes
// whose home relay is a 3-process cluster, named by its three addresses (one relay peer id).
// Bob stops; the relay process both nodes were using may die (SIGKILL of the first); alice's
// messages still reach bob's mailbox through another address, and bob, started again,
// drains them all once, in order, through the two processes left.
func TestNodesFailOverBetweenClusterAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real petrel processes")
	}
	bin, err := exec.LookPath("petrel")
	if err != nil {
		t.Fatalf("petrel not on PATH (testscript.Main sets it up): %v", err)
	}
	c := startRelayCluster(t, bin, 3, "")
	var relayArgs []string
	for _, r := range c.procs {
		relayArgs = append(relayArgs, "--relay", r.listen+"/p2p/"+c.id.String())
	}
	logDir := t.TempDir()
	alice, bob := newPetrelProc(t, bin, "alice", logDir), newPetrelProc(t, bin, "bob", logDir)
	for _, p := range []*petrelProc{alice, bob} {
		p.args = relayArgs
		p.start()
	}
	ctx := context.Background()
	inv, err := bob.cl.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var toBob api.Contact
	if status, err := alice.cl.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &toBob); err != nil || status != 201 {
		t.Fatalf("alice adds bob: %d %v", status, err)
	}
	conv := toBob.ConversationID
	if _, err := alice.cl.Send(ctx, conv, "hello", crashMarker+" hello"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "bob gets the first message", func() error {
		h, err := history(bob.cl, conv)
		if err != nil || len(h) != 1 {
			return fmt.Errorf("%d messages, %v", len(h), err)
		}
		return nil
	})
	wait.For(t, "bob's relay addresses are connected", func() error { return relayConnected(bob) })
	bob.stop()
	c.procs[0].kill()
	const n = 20
	for i := range n {
		id := "m" + strconv.Itoa(i)
		if _, err := alice.cl.Send(ctx, conv, id, crashBody(id)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	wait.For(t, "alice's messages wait in bob's mailbox (sent)", func() error {
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
	bob.start()
	wait.For(t, "bob drains all, once, in order, through the two processes left", func() error {
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
	for _, p := range []*petrelProc{alice, bob} {
		p.stop()
	}
}
