package reach

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/prekey"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/wire"
)

// ErrCircuitOnly says a peer is reachable only through relay circuits, which carry live
// signals and hole punching but not mail: mail goes to the peer's mailbox instead.
var ErrCircuitOnly = errors.New("reachable only through a relay circuit, which does not carry mail")

// Relays fetches prekey bundles from relays' prekey directories (the node's relay client;
// relays are full multiaddrs with /p2p/).
type Relays interface {
	Bundle(ctx context.Context, relay string, user *identity.PublicIdentity) ([]byte, error)
}

// Dialer reaches contacts' nodes over the host Host returns (nil while the node is not
// running), and their home relays through Relays (nil: direct only).
type Dialer struct {
	Host   func() host.Host
	Relays Relays
}

// AddAddrs tells the peerstore where peer pid listens (addrs that do not parse are
// skipped); nothing while the node is not running.
func (d Dialer) AddAddrs(pid peer.ID, addrs []string) {
	h := d.Host()
	if h == nil {
		return
	}
	var as []ma.Multiaddr
	for _, a := range addrs {
		if x, err := ma.NewMultiaddr(a); err == nil {
			as = append(as, x)
		}
	}
	h.Peerstore().AddAddrs(pid, as, peerstore.PermanentAddrTTL)
}

// Open opens a stream of protocol proto to contact c's node over a direct connection
// (Direct), first telling the peerstore the contact's addresses. What names the stream in
// the errors of the dial.
func (d Dialer) Open(ctx context.Context, c *sessions.Contact, proto, what string) (network.Stream, error) {
	h := d.Host()
	if h == nil {
		return nil, errors.New("messenger: not running")
	}
	pid, err := peer.Decode(c.PeerID)
	if err != nil {
		return nil, fmt.Errorf("contact peer id: %w", err)
	}
	d.AddAddrs(pid, c.Addrs)
	if err := Direct(ctx, h, pid); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s, err := h.NewStream(ctx, pid, protocol.ID(proto))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

// Bundle asks contact c's node for a prekey bundle, and when it cannot be reached, the
// prekey directories of the contact's home relays. A bundle of another identity than the
// contact's is refused, never taken for the contact's identity change (which only the
// contact's peer proves, by a message that decrypts: node/inbox). direct says the
// contact's own peer served it (see sessions.PeerServed).
func (d Dialer) Bundle(ctx context.Context, c *sessions.Contact) (b []byte, direct bool, err error) {
	pub, err := identity.ParsePublic(c.Identity)
	if err != nil {
		return nil, false, err
	}
	b, err = d.bundleDirect(ctx, c)
	if err == nil {
		if pb, perr := prekey.ParseBundle(b); perr != nil {
			err = perr
		} else if !pb.Identity().Equal(pub) {
			err = errors.New("the contact's peer served a prekey bundle of another identity")
		}
	}
	if err == nil {
		return b, true, nil
	}
	if d.Relays == nil || len(c.Relays) == 0 || ctx.Err() != nil {
		return nil, false, err
	}
	for _, r := range c.Relays {
		b, rerr := d.Relays.Bundle(ctx, r, pub)
		if rerr == nil {
			if pb, perr := prekey.ParseBundle(b); perr != nil {
				rerr = perr
			} else if !pb.Identity().Equal(pub) {
				rerr = errors.New("bundle of another identity")
			} else {
				return b, false, nil
			}
		}
		err = fmt.Errorf("%w; relay %s: %w", err, r, rerr)
	}
	return nil, false, err
}

// bundleDirect asks contact c's node for a prekey bundle.
func (d Dialer) bundleDirect(ctx context.Context, c *sessions.Contact) ([]byte, error) {
	s, err := d.Open(ctx, c, wire.PrekeyProtocol, "prekeys")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	return sessions.RequestBundle(s)
}

// Direct makes sure a stream to pid can go over a direct (not relayed) connection, or says
// it cannot: with none open and only circuit addresses known, opening a stream would just
// wait for a hole punch that mail should not depend on (ErrCircuitOnly). When only a
// relayed connection is open (the peer reached us through its relay, say) and a direct
// address is known, it dials that address rather than let libp2p wait on the relayed
// connection for a hole punch or a reversal that may never come.
func Direct(ctx context.Context, h host.Host, pid peer.ID) error {
	conns := h.Network().ConnsToPeer(pid)
	for _, c := range conns {
		if !c.Stat().Limited {
			return nil
		}
	}
	direct := false
	for _, a := range h.Peerstore().Addrs(pid) {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			direct = true
			break
		}
	}
	if !direct {
		return ErrCircuitOnly
	}
	if len(conns) == 0 {
		return nil // NewStream dials, direct addresses first
	}
	if err := h.Connect(network.WithForceDirectDial(ctx, "mail"), peer.AddrInfo{ID: pid}); err != nil {
		return fmt.Errorf("direct connection beside a relayed one: %w", err)
	}
	return nil
}
