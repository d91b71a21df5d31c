package barehost

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// New starts the baseline host, listening on a loopback TCP port, sized to keep n
// connections. The caller closes it.
func New(n int) (host.Host, error) {
	cm, err := connmgr.NewConnManager(n+1000, n+2000)
	if err != nil {
		return nil, fmt.Errorf("barehost: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.ConnectionManager(cm),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, fmt.Errorf("barehost: %w", err)
	}
	return h, nil
}

// Addr is h's first listen address with its peer id, as a dialer takes it.
func Addr(h host.Host) string {
	return h.Addrs()[0].String() + "/p2p/" + h.ID().String()
}
