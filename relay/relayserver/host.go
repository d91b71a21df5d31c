package relayserver

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/p2p/transport/websocket"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/petrel-chat/petrel/internal/rclimits"
)

// keyFile holds the relay's libp2p private key (its peer id), mode 0600.
const keyFile = "relay.key"

// loadOrCreateKey reads dir/relay.key, creating it (atomically, 0600) on first start.
func loadOrCreateKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("relay key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("relay key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("relay key: %w", err)
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("relay key: %w", err)
	}
	if err := writeFileAtomic(path, b); err != nil {
		return nil, fmt.Errorf("relay key: %w", err)
	}
	return k, nil
}

// writeFileAtomic writes b to path with mode 0600 through a synced temporary file and a
// rename, so a reader sees the old file or the whole new one.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// newHost builds the relay's libp2p host: TCP, QUIC and WebSocket; Noise; Yamux; the
// resource manager and connection manager sized by cfg.Resources; the AutoNAT service.
// The circuit relay service is started by the Server, which owns it.
func newHost(key crypto.PrivKey, cfg *Config, userAgent string) (host.Host, error) {
	res := cfg.Resources
	limiter := rcmgr.NewFixedLimiter(limits(res))
	rm, err := rcmgr.NewResourceManager(limiter,
		// Its metrics would go to the global Prometheus registry, which nobody serves, and
		// cost a trace event (a formatted timestamp, a scope name) per resource change:
		// about 6 KB of garbage per connection, which grows the heap between collections.
		rcmgr.WithMetricsDisabled(),
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: res.ConnsPerIPv4}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 64, ConnCount: res.ConnsPerIPv6}}),
		// Loopback peers (tests, a co-located push bridge) are not limited per address.
		rcmgr.WithNetworkPrefixLimit(
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("127.0.0.0/8"), ConnCount: res.MaxConns}},
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("::1/128"), ConnCount: res.MaxConns}}),
	)
	if err != nil {
		return nil, fmt.Errorf("relay: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(res.ConnLowWater, res.ConnHighWater)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("relay: connection manager: %w", err)
	}
	// Yamux as libp2p configures it, but with an accept backlog no deeper than the streams
	// a peer may have open anyway (the resource manager refuses the rest): the backlog is a
	// channel allocated per connection (256 entries by default, 2 KB).
	mux := *yamux.DefaultTransport
	mux.AcceptBacklog = max(res.StreamsPerPeer, 16)
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Transport(websocket.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, &mux),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.EnableNATService(),
		// libp2p's own metrics would register on the global Prometheus registry; the
		// relay exports its own on its registry.
		libp2p.DisableMetrics(),
		libp2p.UserAgent(userAgent),
	}
	if cfg.ForcePublic {
		opts = append(opts, libp2p.ForceReachabilityPublic())
	}
	if len(cfg.Announce) > 0 {
		announce := make([]ma.Multiaddr, 0, len(cfg.Announce))
		for _, a := range cfg.Announce {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				rm.Close()
				return nil, fmt.Errorf("relay: announce %q: %w", a, err)
			}
			announce = append(announce, m)
		}
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("relay: host: %w", err)
	}
	return h, nil
}

// limits turns Resources into a concrete limiter configuration (internal/rclimits): libp2p's
// scaled defaults (with its protocol and service limits) overridden by our figures at system,
// transient and per-peer scope, streams capped in each direction, and per-service limits.
func limits(r Resources) rcmgr.ConcreteLimitConfig {
	return rclimits.Build(rclimits.Quotas{
		MaxConns: r.MaxConns, MaxInboundConns: r.MaxInboundConns, ConnsPerPeer: r.ConnsPerPeer,
		MaxStreams: r.MaxStreams, StreamsPerPeer: r.StreamsPerPeer, MemoryBytes: r.MemoryBytes, FDs: r.FDs,
	}, rclimits.Options{
		DirectionalStreams: true,
		Services: map[string]rcmgr.ResourceLimits{
			serviceMailbox:   {Streams: rcmgr.LimitVal(r.MaxStreams / 2), StreamsInbound: rcmgr.LimitVal(r.MaxStreams / 2), Memory: rcmgr.LimitVal64(r.MemoryBytes / 4)},
			servicePrekeyDir: {Streams: rcmgr.LimitVal(r.MaxStreams / 8), StreamsInbound: rcmgr.LimitVal(r.MaxStreams / 8), Memory: rcmgr.LimitVal64(r.MemoryBytes / 16)},
			// Nodes sync push registrations once a minute, on one short stream.
			// A blob stream holds one blob (≤ 4 MiB) while it is received or served.
			serviceBlob: {Streams: rcmgr.LimitVal(r.MaxStreams / 16), StreamsInbound: rcmgr.LimitVal(r.MaxStreams / 16), Memory: rcmgr.LimitVal64(r.MemoryBytes / 4)},
			servicePush: {Streams: rcmgr.LimitVal(r.MaxStreams / 16), StreamsInbound: rcmgr.LimitVal(r.MaxStreams / 16), Memory: rcmgr.LimitVal64(r.MemoryBytes / 32)},
		},
		ServicePeer: &rcmgr.ResourceLimits{
			Streams:        rcmgr.LimitVal(r.StreamsPerPeer),
			StreamsInbound: rcmgr.LimitVal(r.StreamsPerPeer),
			Memory:         rcmgr.LimitVal64(16 << 20),
		},
	})
}

// WriteInfoFile writes info as JSON to path (mode 0600, atomically): the relay.json of
// `petrel relay`.
func WriteInfoFile(path string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// ReadInfoFile reads a relay.json written by WriteInfoFile (for `petrel demo`, scripts and
// tests that start a relay and need its addresses).
func ReadInfoFile(path string) (Info, error) {
	var info Info
	b, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", path, err)
	}
	if info.PeerID == "" || len(info.Addrs) == 0 {
		return info, fmt.Errorf("%s: no peer id or addresses", path)
	}
	return info, nil
}
