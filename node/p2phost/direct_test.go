package p2phost

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/nodetest/wait"
)

// inboundCircuits counts the relayed connections a host accepts, per remote peer.
type inboundCircuits struct {
	mu sync.Mutex
	n  map[peer.ID]int
}

func (c *inboundCircuits) Connected(_ network.Network, conn network.Conn) {
	if conn.Stat().Direction == network.DirInbound && isCircuit(conn.RemoteMultiaddr()) {
		c.mu.Lock()
		c.n[conn.RemotePeer()]++
		c.mu.Unlock()
	}
}
func (c *inboundCircuits) Disconnected(network.Network, network.Conn) {}
func (c *inboundCircuits) Listen(network.Network, ma.Multiaddr)       {}
func (c *inboundCircuits) ListenClose(network.Network, ma.Multiaddr)  {}

func (c *inboundCircuits) from(p peer.ID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[p]
}

func newHost(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestDirectRetryOpensTheCircuitAgain: alice reaches bob only through a relay circuit and
// the hole punch never succeeds (bob runs none). Alice's DirectRetry closes the relayed
// connection once it has settled and opens it again through the same circuit, so bob's side
// sees a new inbound relayed connection (the event that starts libp2p's hole punching), and
// does so again after its backoff; alice stays connected to bob throughout.
func TestDirectRetryOpensTheCircuitAgain(t *testing.T) {
	relay := newHost(t, libp2p.EnableRelayService(), libp2p.ForceReachabilityPublic())
	bob := newHost(t, libp2p.NoListenAddrs, libp2p.EnableRelay())
	alice := newHost(t, libp2p.NoListenAddrs, libp2p.EnableRelay())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	relayInfo := peer.AddrInfo{ID: relay.ID(), Addrs: relay.Addrs()}
	if err := bob.Connect(ctx, relayInfo); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Reserve(ctx, bob, relayInfo); err != nil {
		t.Fatalf("bob's reservation at the relay: %v", err)
	}
	seen := &inboundCircuits{n: map[peer.ID]int{}}
	bob.Network().Notify(seen)

	circuit := ma.StringCast(relay.Addrs()[0].String() + "/p2p/" + relay.ID().String() + "/p2p-circuit")
	if err := alice.Connect(ctx, peer.AddrInfo{ID: bob.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("alice reaches bob through the circuit: %v", err)
	}
	wait.For(t, "bob accepts alice's relayed connection", func() error {
		if n := seen.from(alice.ID()); n != 1 {
			return fmt.Errorf("%d inbound circuits from alice", n)
		}
		return nil
	})

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- DirectRetry{Host: alice, Every: 20 * time.Millisecond, Settle: 100 * time.Millisecond,
			MaxBackoff: 400 * time.Millisecond}.Run(rctx)
	}()
	for want := 2; want <= 3; want++ {
		wait.For(t, fmt.Sprintf("alice opens the circuit to bob again (%d inbound circuits)", want), func() error {
			if n := seen.from(alice.ID()); n < want {
				return fmt.Errorf("%d inbound circuits from alice", n)
			}
			return nil
		})
	}
	stop()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	wait.For(t, "alice is still connected to bob through the relay", func() error {
		if alice.Network().Connectedness(bob.ID()) != network.Connected && alice.Network().Connectedness(bob.ID()) != network.Limited {
			return fmt.Errorf("connectedness %v", alice.Network().Connectedness(bob.ID()))
		}
		return nil
	})
}

// TestDirectRetryLeavesDirectAndForeignConnectionsAlone: a peer with a direct connection is
// never touched, and a relayed connection the other side opened is its to retry.
func TestDirectRetryLeavesDirectAndForeignConnectionsAlone(t *testing.T) {
	now := time.Now()
	direct := fakeConn{addr: ma.StringCast("/ip4/127.0.0.1/tcp/1"), dir: network.DirOutbound, opened: now.Add(-time.Hour)}
	ours := fakeConn{addr: ma.StringCast("/ip4/127.0.0.1/tcp/2/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit"), dir: network.DirOutbound, opened: now.Add(-time.Hour)}
	theirs, young := ours, ours
	theirs.dir = network.DirInbound
	young.opened = now
	cutoff := now.Add(-time.Minute)
	if c, relayed := opened([]network.Conn{ours, direct}, cutoff); relayed || c != nil {
		t.Errorf("a peer with a direct connection: relayed=%v circuit=%v", relayed, c)
	}
	if c, relayed := opened([]network.Conn{theirs}, cutoff); !relayed || c != nil {
		t.Errorf("a circuit the other side opened: relayed=%v circuit=%v", relayed, c)
	}
	if c, relayed := opened([]network.Conn{young}, cutoff); !relayed || c != nil {
		t.Errorf("a circuit younger than Settle: relayed=%v circuit=%v", relayed, c)
	}
	if c, relayed := opened([]network.Conn{ours}, cutoff); !relayed || c == nil || !c.Equal(ours.addr) {
		t.Errorf("our settled circuit: relayed=%v circuit=%v", relayed, c)
	}
}

// fakeConn is only what opened reads of a connection.
type fakeConn struct {
	network.Conn
	addr   ma.Multiaddr
	dir    network.Direction
	opened time.Time
}

func (c fakeConn) RemoteMultiaddr() ma.Multiaddr { return c.addr }
func (c fakeConn) Stat() network.ConnStats {
	return network.ConnStats{Stats: network.Stats{Direction: c.dir, Opened: c.opened}}
}
