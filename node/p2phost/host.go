package p2phost

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/petrel-chat/petrel/internal/rclimits"
)

// DefaultListenAddrs are used when Config.ListenAddrs is empty (API.md §1).
var defaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// ListenNone, as the only listen address, makes a host listen on nothing: it dials out and
// is reached only through relay circuits (a node behind a firewall that admits no inbound
// connections, or one that wants to reveal no address of its own).
const ListenNone = "none"

// ListensOnNothing reports whether addrs is the ListenNone setting.
func ListensOnNothing(addrs []string) bool { return len(addrs) == 1 && addrs[0] == ListenNone }

// DefaultListenAddrs returns the listen addresses used when none are given.
func DefaultListenAddrs() []string { return append([]string(nil), defaultListenAddrs...) }

// Resources are the host's quotas, all in one place.
type Resources struct {
	// MaxConns caps connections of all kinds (inbound + outbound).
	MaxConns int
	// MaxInboundConns caps inbound connections.
	MaxInboundConns int
	// ConnsPerPeer caps connections to a single peer.
	ConnsPerPeer int
	// MaxStreams caps open streams across the host.
	MaxStreams int
	// StreamsPerPeer caps streams to a single peer.
	StreamsPerPeer int
	// MemoryBytes caps the memory the libp2p stack may reserve.
	MemoryBytes int64
	// FDs caps file descriptors used by the stack.
	FDs int
	// ConnLowWater and ConnHighWater drive the connection manager: above high, it trims idle
	// connections down to low. Contacts' connections are protected by the node.
	ConnLowWater, ConnHighWater int
}

// DefaultResources is the profile of a personal node: a few hundred peers, small memory.
func DefaultResources() Resources {
	return Resources{
		MaxConns:        512,
		MaxInboundConns: 256,
		ConnsPerPeer:    8,
		MaxStreams:      4096,
		StreamsPerPeer:  256,
		MemoryBytes:     128 << 20,
		FDs:             1024,
		ConnLowWater:    128,
		ConnHighWater:   256,
	}
}

// Config says how to build a host.
type Config struct {
	// Key is the host's private key (the peer id derives from it). Required.
	Key crypto.PrivKey
	// ListenAddrs are multiaddr strings; empty means DefaultListenAddrs, and ListenNone
	// alone means no listener at all.
	ListenAddrs []string
	// Resources; the zero value means DefaultResources.
	Resources Resources
	// UserAgent is announced by identify.
	UserAgent string
	// Extra libp2p options (relay client, hole punching, ...), applied last.
	Extra []libp2p.Option
}

// New builds and starts a libp2p host listening on cfg.ListenAddrs.
func New(cfg Config) (host.Host, error) {
	if cfg.Key == nil {
		return nil, fmt.Errorf("p2phost: no host key")
	}
	res := cfg.Resources
	if res == (Resources{}) {
		res = DefaultResources()
	}
	listen := cfg.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs()
	}
	// Without metrics: they would go to the global Prometheus registry, which nobody
	// serves, at the cost of a trace event per resource change.
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits(res)), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("p2phost: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(res.ConnLowWater, res.ConnHighWater)
	if err != nil {
		return nil, fmt.Errorf("p2phost: connection manager: %w", err)
	}
	listenOpt := libp2p.ListenAddrStrings(listen...)
	if ListensOnNothing(listen) {
		listenOpt = libp2p.NoListenAddrs
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		listenOpt,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		// Metrics would register on the global Prometheus registry; the node exports its
		// own when asked.
		libp2p.DisableMetrics(),
		libp2p.UserAgent(cfg.UserAgent),
	}
	opts = append(opts, cfg.Extra...)
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2phost: %w", err)
	}
	return h, nil
}

// limits turns Resources into a concrete limiter configuration (internal/rclimits): libp2p's
// scaled defaults (with its protocol and service limits) capped by our figures at system,
// transient and per-peer scope.
func limits(r Resources) rcmgr.ConcreteLimitConfig {
	return rclimits.Build(rclimits.Quotas{
		MaxConns: r.MaxConns, MaxInboundConns: r.MaxInboundConns, ConnsPerPeer: r.ConnsPerPeer,
		MaxStreams: r.MaxStreams, StreamsPerPeer: r.StreamsPerPeer, MemoryBytes: r.MemoryBytes, FDs: r.FDs,
	}, rclimits.Options{})
}
