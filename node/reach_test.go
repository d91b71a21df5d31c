package node_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestNodeReachableOnlyThroughRelay: bob listens on no address at all (--listen none) and
// has a home relay. He reserves a circuit slot there, so his profile and invites carry only
// /p2p-circuit addresses; alice, who has never met him and has no relay of her own, adds his
// invite, and the two chat both ways with receipts, and see each other online. Mail to bob
// does not ride the circuit (it is small and short by design): it goes to his mailbox,
// which he watches, or over the direct connection he opens to alice.
func TestNodeReachableOnlyThroughRelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	alice := nodetest.StartWith(t, "alice", fast(0))
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) {
		fast(0)(c)
		c.ListenAddrs = []string{p2phost.ListenNone}
		c.Relays = []string{r.Info.Addrs[0]}
	})
	wait.For(t, "bob's addresses are circuit addresses at his relay", func() error {
		me, err := bob.Client.Me(ctx)
		if err != nil {
			return err
		}
		if len(me.Addrs) == 0 {
			return fmt.Errorf("no address yet")
		}
		for _, a := range me.Addrs {
			if !strings.Contains(a, "/p2p-circuit") || !strings.HasPrefix(a, strings.Split(r.Info.Addrs[0], "/p2p/")[0]) {
				return fmt.Errorf("bob announces %s", a)
			}
		}
		return nil
	})
	sa := socket(t, alice)
	toBob := nodetest.Befriend(t, alice, bob) // bob's invite: circuit addresses only
	if _, err := alice.Client.Send(ctx, toBob.ConversationID, "a1", "hello hidden bob"); err != nil {
		t.Fatal(err)
	}
	// Alice cannot go direct (she knows only bob's circuit addresses, and bob has not
	// contacted her), and mail does not ride the circuit: it goes to bob's mailbox, with a
	// session begun from the prekeys bob left at his relay.
	wait.For(t, "the message went to bob's mailbox", func() error {
		if got := relayMetric(t, r, "petrel_relay_deposits_total"); got < 1 {
			return fmt.Errorf("relay took %v deposits", got)
		}
		return nil
	})
	// The deposit is at the relay; bob drains it (his relay tells him): alice is a message
	// request at his node.
	ua := nodetest.UserID(t, alice)
	wait.For(t, "alice's message request at bob's", func() error {
		cs, err := bob.Client.Contacts(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.UserID == ua {
				return nil
			}
		}
		return fmt.Errorf("bob has %d contacts, none alice", len(cs))
	})
	// Bob adds alice's link: the same contact as her message request (200, not 201).
	inv, err := alice.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var toAlice api.Contact
	if status, err := bob.Client.DoStatus(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, &toAlice); err != nil || status != 200 {
		t.Fatalf("bob adds alice after her message: %d %v", status, err)
	}
	wait.For(t, "bob has alice's message", func() error {
		for _, m := range messages(t, bob.Client, toAlice.ConversationID) {
			if m.Body == "hello hidden bob" {
				return nil
			}
		}
		return fmt.Errorf("not yet")
	})
	if _, err := bob.Client.Send(ctx, toAlice.ConversationID, "b1", "hello alice"); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "alice gets bob's reply and sees her message delivered", func() error {
		var got bool
		for _, m := range messages(t, alice.Client, toBob.ConversationID) {
			switch {
			case m.Body == "hello alice":
				got = true
			case m.Body == "hello hidden bob" && m.Status != api.StatusDelivered && m.Status != api.StatusRead:
				return fmt.Errorf("her message is %s", m.Status)
			}
		}
		if !got {
			return fmt.Errorf("no reply yet")
		}
		return nil
	})
	ub := nodetest.UserID(t, bob)
	if _, ok := waitFrame(t, sa, 10e9, func(f liveFrame) bool {
		return f.Type == "presence" && f.UserID == ub && f.State == "online"
	}); !ok {
		t.Fatal("alice never saw bob online")
	}
}
