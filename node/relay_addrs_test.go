package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestRelayAddressesOfOneRelayDepositOnce: bob names two addresses of one relay (as the
// processes of a cluster are named, docs/OPERATIONS.md: one relay, one peer id, several
// addresses). A message for him while he is away is deposited once, not once per address,
// so it counts once against his mailbox's quota; he gets each message once.
func TestRelayAddressesOfOneRelayDepositOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0"}
	r := relaytest.Start(t, &cfg)
	if len(r.Info.Addrs) < 2 {
		t.Fatalf("the relay listens at %v, want two addresses", r.Info.Addrs)
	}
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	bob.Stop()
	bob.Relays = r.Info.Addrs[:2]
	bob.Run()
	wait.For(t, "bob registered at his relay", func() error {
		st, err := bob.Client.Status(ctx)
		if err != nil {
			return err
		}
		for _, x := range st.Relays {
			if x.Connected {
				return nil
			}
		}
		return fmt.Errorf("relays %+v", st.Relays)
	})
	conv := nodetest.Befriend(t, alice, bob).ConversationID
	bob.Stop()
	const n = 5
	for i := range n {
		if _, err := alice.Client.Send(ctx, conv, fmt.Sprintf("c%d", i), fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "alice's messages wait at the relay", allStatus(t, alice.Client, conv, api.StatusSent))
	if got := r.Stats().Messages; got != n {
		t.Fatalf("the relay holds %d messages for %d sent: one deposit per address", got, n)
	}
	bob.Run()
	bconv := convOf(t, bob, nodetest.UserID(t, alice)).ConversationID
	wait.For(t, "bob has each message once", func() error {
		if ms := messages(t, bob.Client, bconv); len(ms) != n {
			return fmt.Errorf("%d messages", len(ms))
		}
		return nil
	})
}
