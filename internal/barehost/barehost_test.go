package barehost

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// The baseline host takes connections from a libp2p node and keeps them.
func TestBaselineHostAcceptsAndKeepsConnections(t *testing.T) {
	h, err := New(10)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ma, err := multiaddr.NewMultiaddr(Addr(h))
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		t.Fatal(err)
	}
	c, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(context.Background(), *ai); err != nil {
		t.Fatalf("dialing the baseline host: %v", err)
	}
	// The listening side registers the connection once its upgrade ends, which may be
	// just after the dialer's Connect returns.
	deadline := time.Now().Add(10 * time.Second)
	for h.Network().Connectedness(c.ID()) != network.Connected {
		if time.Now().After(deadline) {
			t.Fatalf("the baseline host never registered the connection (peers: %v)", h.Network().Peers())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
