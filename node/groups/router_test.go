package groups

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/crypto/senderkey"
	"github.com/petrel-chat/petrel/node/wire"
)

// copyCounter counts, per message, the copies (first arrivals and duplicates) a host
// received straight from one peer, the publisher.
type copyCounter struct {
	from peer.ID
	mu   sync.Mutex
	n    map[string]int // message id → copies from `from`
	mesh int            // peers in this member's own mesh (grafts less prunes)
}

func (c *copyCounter) count(m *pubsub.Message) {
	if m.ReceivedFrom != c.from {
		return
	}
	c.mu.Lock()
	c.n[envelopeID(m.Message)]++
	c.mu.Unlock()
}

// graft counts the peers in this member's own mesh.
func (c *copyCounter) graft(d int) {
	c.mu.Lock()
	c.mesh += d
	c.mu.Unlock()
}

func (c *copyCounter) meshPeers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mesh
}

func (c *copyCounter) copies(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *copyCounter) DeliverMessage(m *pubsub.Message)                     { c.count(m) }
func (c *copyCounter) DuplicateMessage(m *pubsub.Message)                   { c.count(m) }
func (c *copyCounter) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (c *copyCounter) OnClosedOutboundStream(peer.ID)                       {}
func (c *copyCounter) Join(string)                                          {}
func (c *copyCounter) Leave(string)                                         {}
func (c *copyCounter) Graft(peer.ID, string)                                { c.graft(1) }
func (c *copyCounter) Prune(peer.ID, string)                                { c.graft(-1) }
func (c *copyCounter) ValidateMessage(*pubsub.Message)                      {}
func (c *copyCounter) RejectMessage(*pubsub.Message, string)                {}
func (c *copyCounter) ThrottlePeer(peer.ID)                                 {}
func (c *copyCounter) RecvRPC(*pubsub.RPC)                                  {}
func (c *copyCounter) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (c *copyCounter) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (c *copyCounter) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (c *copyCounter) UndeliverableMessage(*pubsub.Message)                 {}

// routerMember is one real host of the router test: its topic and what it received.
type routerMember struct {
	h      host.Host
	topic  *pubsub.Topic
	copies *copyCounter
	mu     sync.Mutex
	got    map[uint32]int // message number → deliveries to the subscriber
}

func (m *routerMember) deliveries(n uint32) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got[n]
}

// routerGroup is real libp2p hosts on loopback running the node's router options, a
// validator that checks the Sender Keys signature, and one topic.
type routerGroup struct {
	t      *testing.T
	ctx    context.Context
	name   string
	pub    *senderkey.Distribution
	dist   []byte
	sender *senderkey.SenderState
	first  peer.ID // the publisher, members[0]
	wg     sync.WaitGroup
	ms     []*routerMember
}

func newRouterGroup(t *testing.T, ctx context.Context) *routerGroup {
	t.Helper()
	sender, err := senderkey.NewSender()
	if err != nil {
		t.Fatal(err)
	}
	d, err := senderkey.ParseDistribution(sender.Distribution())
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, wire.GroupSecretSize)
	return &routerGroup{t: t, ctx: ctx, name: wire.GroupTopic(secret), pub: d, dist: sender.Distribution(), sender: sender}
}

// add starts a member, connects it to the publisher and to up to six earlier members (as
// the benchmarks do), and subscribes it to the topic.
func (g *routerGroup) add() *routerMember {
	t := g.t
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if len(g.ms) == 0 {
		g.first = h.ID()
	}
	m := &routerMember{h: h, got: map[uint32]int{}, copies: &copyCounter{from: g.first, n: map[string]int{}}}
	ps, err := pubsub.NewGossipSub(g.ctx, h, RouterOptions(pubsub.WithRawTracer(m.copies))...)
	if err != nil {
		t.Fatal(err)
	}
	signer := g.pub.SigningKey()
	err = ps.RegisterTopicValidator(g.name, oneChainValidator(signer))
	if err != nil {
		t.Fatal(err)
	}
	if m.topic, err = ps.Join(g.name); err != nil {
		t.Fatal(err)
	}
	if err := m.topic.SetScoreParams(TopicScore()); err != nil {
		t.Fatal(err)
	}
	sub, err := m.topic.Subscribe(pubsub.WithBufferSize(TopicBuffer))
	if err != nil {
		t.Fatal(err)
	}
	own, err := senderkey.ParseDistribution(g.dist)
	if err != nil {
		t.Fatal(err)
	}
	rs := senderkey.NewReceiver(own)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			msg, err := sub.Next(g.ctx)
			if err != nil {
				return
			}
			if msg.ReceivedFrom == h.ID() {
				continue // our own publication
			}
			skm, err := wire.ParseEnvelope(msg.Data)
			if err != nil {
				t.Error(err)
				return
			}
			pt, err := rs.Decrypt(skm)
			if err != nil {
				t.Errorf("member decrypts: %v", err)
				return
			}
			m.mu.Lock()
			m.got[binary.BigEndian.Uint32(pt)]++
			m.mu.Unlock()
		}
	}()
	// A node's router runs before it dials anyone: connect only now.
	for j := 0; j < len(g.ms) && j < 7; j++ {
		o := g.ms[(len(g.ms)*7+j*5)%len(g.ms)].h
		if j == 0 {
			o = g.ms[0].h
		}
		if err := h.Connect(g.ctx, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	g.ms = append(g.ms, m)
	return m
}

// publish has the publisher send message n and returns its router id.
func (g *routerGroup) publish(n uint32) string {
	g.t.Helper()
	pt := make([]byte, 100)
	binary.BigEndian.PutUint32(pt, n)
	skm, err := g.sender.Encrypt(pt)
	if err != nil {
		g.t.Fatal(err)
	}
	env := wire.AppendEnvelope(nil, skm)
	if err := g.ms[0].topic.Publish(g.ctx, env); err != nil {
		g.t.Fatal(err)
	}
	return envelopeID(&pb.Message{Data: env})
}

// waitFor polls cond until it holds or the bound passes (an upper bound, not a timing).
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSubscribed waits until the publisher knows every other member's subscription.
func (g *routerGroup) waitSubscribed() {
	g.t.Helper()
	waitFor(g.t, "the publisher sees every member's subscription", func() error {
		if n := len(g.ms[0].topic.ListPeers()); n != len(g.ms)-1 {
			return fmt.Errorf("%d of %d", n, len(g.ms)-1)
		}
		return nil
	})
}

// waitDelivered waits until every member but the publisher holds message n, once.
func (g *routerGroup) waitDelivered(n uint32) {
	g.t.Helper()
	for i, m := range g.ms[1:] {
		waitFor(g.t, fmt.Sprintf("member %d receives message %d", i+1, n), func() error {
			if c := m.deliveries(n); c != 1 {
				return fmt.Errorf("delivered %d times", c)
			}
			return nil
		})
	}
}

// TestRouterPublishesToItsMeshOnly: with the node's router options a group's author sends
// its copy to its mesh, not to every member it is connected to, and yet every member gets
// every message exactly once, including a member who joins once the group is running.
// On libp2p's default (flood publishing) every one of the 29 connected members gets a copy
// straight from the author, and the first assertion fails.
func TestRouterPublishesToItsMeshOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("30 libp2p hosts")
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := newRouterGroup(t, ctx)
	t.Cleanup(func() { cancel(); g.wg.Wait() })
	const members = 30
	for range members {
		g.add()
	}
	g.waitSubscribed()

	for n := range uint32(5) {
		id := g.publish(n)
		g.waitDelivered(n)
		direct := 0
		for _, m := range g.ms[1:] {
			direct += m.copies.copies(id)
		}
		// The mesh is at most gossipDhi peers; a member that asks for the message after
		// gossip (IWANT) may get one more copy from the author.
		if direct > gossipDhi+2 {
			t.Fatalf("message %d: %d copies straight from the author to %d members; the mesh is at most %d", n, direct, members-1, gossipDhi)
		}
		t.Logf("message %d: %d copies straight from the author", n, direct)
	}
	// No member saw any message twice, and none got one that was not sent.
	for i, m := range g.ms[1:] {
		m.mu.Lock()
		if len(m.got) != 5 {
			t.Errorf("member %d holds %d distinct messages, want 5", i+1, len(m.got))
		}
		m.mu.Unlock()
	}

	// A member who joins now gets what is published once it is in the mesh. (Before that,
	// with flooding off, only gossip reaches it, and the node's pairwise fallback covers a
	// member gossip misses: groups.Options.FallbackAfter.)
	late := g.add()
	g.waitSubscribed()
	waitFor(t, "the late member grafted into the mesh", func() error {
		if n := late.copies.meshPeers(); n < 1 {
			return fmt.Errorf("%d mesh peers", n)
		}
		return nil
	})
	for n := uint32(5); n < 10; n++ {
		g.publish(n)
		g.waitDelivered(n)
	}
}
