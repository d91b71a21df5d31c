package node_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/node/invite"
	"github.com/petrel-chat/petrel/node/nodetest"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaytest"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// relayMetric reads one counter or gauge (without labels) from a relay's /metrics.
func relayMetric(t *testing.T, r *relaytest.Relay, name string) float64 {
	t.Helper()
	resp, err := http.Get(r.Info.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no metric %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// publicIdentity is a node's public identity, from its own invite link.
func publicIdentity(t *testing.T, n *nodetest.Node) *identity.PublicIdentity {
	t.Helper()
	inv, err := n.Client.CreateInvite(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := invite.Parse(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	return p.Identity
}

func bareHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestGroupOfflineMembersShareOneDepositPerRelay: three members of a group are offline
// behind one relay. Each message the mesh could not bring them reaches the relay as ONE
// multi deposit (one body stored once, an entry per member); one member's mailbox is full
// and is refused alone. The relay's data directory holds none of the text. When the two
// others start, each has every message exactly once and in the group's order; the full
// member gets them too once it has emptied its mailbox (through the pairwise fallback).
// A stranger cannot fetch anyone's mail.
func TestGroupOfflineMembersShareOneDepositPerRelay(t *testing.T) {
	// Serial: under the load of the parallel tests it once counted 7 mailbox entries for 8.
	ctx := context.Background()
	cfg := relaytest.Config()
	cfg.Mailbox.MaxMessages = 30
	relay := relaytest.Start(t, &cfg)
	nodes := startNodes(t, 5, fast(300*time.Millisecond))
	a, b := nodes[0], nodes[1]
	away := nodes[2:] // c, d, and e whose mailbox will be full
	for _, n := range away {
		n.Stop()
		n.Relays = []string{relay.Info.Addrs[0]}
		n.Run()
	}
	gid, _ := makeGroup(t, nodes, "offline behind one relay")
	if _, err := a.Client.Send(ctx, gid, "m0", "while everyone is here"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		waitMessages(t, n, gid, 1)
	}
	full := away[2]
	fullID := publicIdentity(t, full)
	for _, n := range away {
		n.Stop()
	}

	// e's mailbox fills up with mail from someone else.
	junk, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	h := bareHost(t)
	if err := h.Connect(ctx, relay.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	mb := relaywire.MailboxID(fullID)
	for i := 0; ; i++ {
		env, err := sealed.SealFrom(mb, fullID, junk, []byte("junk"))
		if err != nil {
			t.Fatal(err)
		}
		err = mailboxclient.Deposit(ctx, h, relay.ID(), mb, env)
		if errors.Is(err, mailboxclient.ErrQuotaMessages) {
			break
		}
		if err != nil || i > int(cfg.Mailbox.MaxMessages) {
			t.Fatalf("filling e's mailbox: %d deposits, %v", i, err)
		}
	}
	multi0 := relayMetric(t, relay, "petrel_relay_multi_deposits_total")
	rcpt0 := relayMetric(t, relay, "petrel_relay_multi_deposit_recipients_total")
	bodies0 := relay.Stats().SharedBodies

	const n = 4
	send := func(i int) {
		t.Helper()
		if _, err := a.Client.Send(ctx, gid, fmt.Sprintf("m%d", i), fmt.Sprintf("secret-group-text-%d while three are away", i)); err != nil {
			t.Fatal(err)
		}
	}
	deposits := func(want float64) {
		t.Helper()
		wait.For(t, "one multi deposit per message reaches the relay", func() error {
			if got := relayMetric(t, relay, "petrel_relay_multi_deposits_total") - multi0; got < want {
				return fmt.Errorf("%v multi deposits, want %v", got, want)
			}
			return nil
		})
	}
	for i := 1; i < n; i++ {
		send(i)
	}
	deposits(n - 1)
	// The last message is a barrier: the depositor makes deposits in order, so once its
	// deposit is in, a stray extra deposit of an earlier message would be too. Then count
	// exactly.
	send(n)
	waitMessages(t, b, gid, n+1)
	deposits(n)
	if got := relayMetric(t, relay, "petrel_relay_multi_deposits_total") - multi0; got != n {
		t.Errorf("%v multi deposits for %d messages, want one each", got, n)
	}
	if got := relayMetric(t, relay, "petrel_relay_multi_deposit_recipients_total") - rcpt0; got != 2*n {
		t.Errorf("%v mailbox entries stored, want %d (c and d; e is full)", got, 2*n)
	}
	if got := relay.Stats().SharedBodies - bodies0; got != n {
		t.Errorf("%d bodies stored, want %d", got, n)
	}
	nodetest.NoPlaintext(t, relay.Dir, "secret-group-text", "while three are away")

	// A stranger cannot fetch: it can only authenticate as itself, and has no mailbox here.
	if _, err := mailboxclient.Fetch(ctx, h, relay.ID(), junk, 10); !errors.Is(err, mailboxclient.ErrNotRegistered) {
		t.Errorf("a stranger's fetch: %v", err)
	}

	ref := ids(waitMessages(t, a, gid, n+1))
	for _, n := range away[:2] {
		n.Run()
	}
	for _, n := range away[:2] {
		got := waitMessages(t, n, gid, len(ref))
		if !slices.Equal(ids(got), ref) {
			t.Fatalf("%s's history %v, A's %v", n.Name, ids(got), ref)
		}
	}
	// e drains its junk and then gets the group's messages the pairwise way.
	full.Run()
	got := waitMessages(t, full, gid, len(ref))
	if !slices.Equal(ids(got), ref) {
		t.Fatalf("%s's history %v, A's %v", full.Name, ids(got), ref)
	}
	// Exactly once: a message sent now is a barrier; once it has arrived, any late copy of
	// an earlier one would have too.
	barrier, err := a.Client.Send(ctx, gid, "barrier", "after everyone caught up")
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(ref), barrier.ID)
	for _, n := range away {
		if got := ids(waitMessages(t, n, gid, len(want))); !slices.Equal(got, want) {
			t.Errorf("%s's history after the barrier %v, want %v", n.Name, got, want)
		}
	}
}

// TestGroupDepositRetriedAcrossRestart: the relay is down when a group message must go to
// an offline member's mailbox; the deposit waits in the sender's store, survives the
// sender's restart, and is made once the relay is back (same address and key); the member
// then gets the message.
func TestGroupDepositRetriedAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := relaytest.Config()
	relay := relaytest.Start(t, &cfg)
	addr := relay.Info.Addrs[0]
	nodes := startNodes(t, 3, fast(300*time.Millisecond))
	a, c := nodes[0], nodes[2]
	c.Stop()
	c.Relays = []string{addr}
	c.Run()
	gid, _ := makeGroup(t, nodes, "relay down")
	if _, err := a.Client.Send(ctx, gid, "m0", "everyone here"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, c, gid, 1)
	c.Stop()
	if err := relay.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Send(ctx, gid, "m1", "while the relay is down"); err != nil {
		t.Fatal(err)
	}
	waitMessages(t, nodes[1], gid, 2)
	time.Sleep(2 * time.Second) // the fallback decides (after 300 ms), the deposit fails and waits
	a.Stop()
	// The relay comes back on the same address, with the same key and store.
	cfg.Listen = []string{strings.TrimSuffix(addr, "/p2p/"+relay.Info.PeerID)}
	back := relaytest.StartIn(t, &cfg, relay.Dir)
	if back.Info.PeerID != relay.Info.PeerID {
		t.Fatalf("the relay came back as %s", back.Info.PeerID)
	}
	a.Run()
	wait.For(t, "the deposit is made after the sender's restart", func() error {
		if got := back.Stats().SharedBodies; got < 1 {
			return fmt.Errorf("%d shared bodies", got)
		}
		return nil
	})
	c.Run()
	ref := ids(waitMessages(t, a, gid, 2))
	if got := ids(waitMessages(t, c, gid, 2)); !slices.Equal(got, ref) {
		t.Fatalf("C's history %v, A's %v", got, ref)
	}
}
