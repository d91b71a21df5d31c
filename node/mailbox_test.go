package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaytest"
)

// TestTwoHomeRelaysDeliverOnce: bob has two home relays and is offline; alice deposits
// each message at both. When bob comes back he drains both mailboxes and has every message
// exactly once, in order; both relays end up empty. Then alice is away and bob's read
// receipt waits in her mailbox until she returns.
func TestTwoHomeRelaysDeliverOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Default (production) rate limits: the test is about delivery, not throughput.
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	r1, r2 := relaytest.Start(t, &cfg), relaytest.Start(t, &cfg)
	a1, a2 := r1.Info.Addrs[0], r2.Info.Addrs[0]
	start := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	alice, bob := nodetest.Start(t, "alice"), nodetest.Start(t, "bob")
	bob.Stop()
	bob.Relays = []string{a1, a2}
	bob.Run()
	alice.Stop()
	alice.Relays = []string{a1}
	alice.Run()
	wait.For(t, "bob registered at both relays", func() error {
		st, err := bob.Client.Status(ctx)
		if err != nil {
			return err
		}
		for _, r := range st.Relays {
			if !r.Connected {
				return fmt.Errorf("%s not connected", r.Addr)
			}
		}
		if len(st.Relays) != 2 {
			return fmt.Errorf("relays %+v", st.Relays)
		}
		return nil
	})
	phase("bob registered at both relays")
	toBob := nodetest.Befriend(t, alice, bob)
	bob.Stop()
	const n = 20
	for i := range n {
		if _, err := alice.Client.Send(ctx, toBob.ConversationID, fmt.Sprintf("c%d", i), fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wait.For(t, "both relays hold every message", func() error {
		for _, r := range []*relaytest.Relay{r1, r2} {
			if got := r.Stats().Messages; got != n {
				return fmt.Errorf("a relay holds %d", got)
			}
		}
		return nil
	})
	phase("both relays hold every message")
	// The relays answer before alice's node records the answers: wait for the status.
	wait.For(t, "alice's messages are sent while bob is away", allStatus(t, alice.Client, toBob.ConversationID, api.StatusSent))
	bob.Run()
	wait.For(t, "bob has each message once, in order", func() error {
		p, err := bob.Client.Messages(ctx, toBob.ConversationID, "", "", 200)
		if err != nil {
			return err
		}
		ms := p.Messages
		if len(ms) != n {
			return fmt.Errorf("%d messages", len(ms))
		}
		for i, m := range ms {
			if m.Body != fmt.Sprintf("m%d", i) {
				return fmt.Errorf("message %d is %q", i, m.Body)
			}
		}
		return nil
	})
	phase("bob has each message once, in order")
	wait.For(t, "both mailboxes drained", func() error {
		for _, r := range []*relaytest.Relay{r1, r2} {
			if got := r.Stats().Messages; got != 0 {
				return fmt.Errorf("a relay still holds %d", got)
			}
		}
		return nil
	})
	phase("both mailboxes drained")
	wait.For(t, "alice sees them delivered", allStatus(t, alice.Client, toBob.ConversationID, api.StatusDelivered))
	phase("alice sees them delivered")
	if ms := messages(t, bob.Client, toBob.ConversationID); len(ms) != n {
		t.Fatalf("after draining both relays bob has %d messages, want %d", len(ms), n)
	}

	// Receipts take the same road back: alice is away when bob reads (he accepts her
	// request first, so read receipts are allowed); the read receipt waits in her mailbox.
	alice.Stop()
	cs, err := bob.Client.Contacts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("bob's contacts: %v %v", cs, err)
	}
	accept := true
	if _, err := bob.Client.UpdateContact(ctx, cs[0].ID, api.ContactPatch{Accept: &accept}); err != nil {
		t.Fatal(err)
	}
	last := messages(t, bob.Client, toBob.ConversationID)[n-1]
	if err := bob.Client.MarkRead(ctx, toBob.ConversationID, last.ID); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the read receipt waits at alice's relay", func() error {
		if got := r1.Stats().Messages; got == 0 {
			return errors.New("nothing at alice's relay yet")
		}
		return nil
	})
	alice.Run()
	wait.For(t, "alice sees her messages read", allStatus(t, alice.Client, toBob.ConversationID, api.StatusRead))
}

// TestHomeRelayByInviteCode: a relay that registers by invite code takes a node started with
// --relay ADDR#invite=CODE and refuses one with a wrong code; the code never leaves the
// node (its profile and invite links list the bare address).
func TestHomeRelayByInviteCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := relaytest.Config()
	cfg.Registration.Policy = relayserver.PolicyInvite
	cfg.Registration.InviteCodes = []string{"sesame-7"}
	r := relaytest.Start(t, &cfg)
	addr := r.Info.Addrs[0]
	good, bad := nodetest.Start(t, "good"), nodetest.Start(t, "bad")
	for n, code := range map[*nodetest.Node]string{good: "sesame-7", bad: "wrong"} {
		n.Stop()
		n.Relays = []string{addr + "#invite=" + code}
		n.Run()
	}
	wait.For(t, "the node with the right code registers", func() error {
		st, err := good.Client.Status(ctx)
		if err != nil {
			return err
		}
		if len(st.Relays) != 1 || st.Relays[0].Addr != addr || !st.Relays[0].Connected {
			return fmt.Errorf("relays %+v", st.Relays)
		}
		return nil
	})
	me, err := good.Client.Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := good.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := invite.Parse(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	if len(me.Relays) != 1 || me.Relays[0] != addr || len(parsed.Relays) != 1 || parsed.Relays[0].String() != addr {
		t.Fatalf("the code leaked: /v1/me relays %v, invite relays %v", me.Relays, parsed.Relays)
	}
	st, err := bad.Client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Relays) != 1 || st.Relays[0].Connected {
		t.Fatalf("a wrong code registered: %+v", st.Relays)
	}
}

// TestRelayLearnsRotatedSignedPrekey: a node whose one-time prekeys at its relay are plenty
// still uploads its signed and last-resort prekeys again after it rotates them, so a contact
// starting a session from the relay's directory never uses a key the node has retired.
func TestRelayLearnsRotatedSignedPrekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := relaytest.Start(t, nil)
	var ahead atomic.Int64 // how far bob's clock runs ahead of the wall clock
	bob := nodetest.StartWith(t, "bob", func(c *node.Config) {
		c.Relays = []string{r.Info.Addrs[0]}
		c.RelayPoll = 100 * time.Millisecond
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	inv, err := bob.Client.CreateInvite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := invite.Parse(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stranger.Close() })
	stranger.Peerstore().AddAddrs(r.ID(), r.AddrInfo().Addrs, time.Hour)
	signedAtRelay := func() (uint32, error) {
		b, err := mailboxclient.FetchBundle(ctx, stranger, r.ID(), parsed.Identity)
		if err != nil {
			return 0, err
		}
		return b.SignedPrekey().ID(), nil
	}
	var first uint32
	wait.For(t, "bob's prekeys at his relay", func() error {
		first, err = signedAtRelay()
		return err
	})
	ahead.Store(int64(prekey.RotationInterval + time.Hour))
	// Each fetch takes a one-time prekey; a handful leaves plenty at the relay (25 uploaded,
	// refilled below 10), so only the rotation can make bob upload again. Bob checks every
	// 100 ms; the loop gives him 50 times that.
	for attempt := 1; ; attempt++ {
		time.Sleep(500 * time.Millisecond)
		id, err := signedAtRelay()
		if err != nil {
			t.Fatal(err)
		}
		if id != first {
			break
		}
		if attempt == 10 {
			t.Fatalf("the relay still hands out signed prekey %d, which bob rotated away", id)
		}
	}
}
