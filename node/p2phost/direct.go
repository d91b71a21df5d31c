package p2phost

import (
	"context"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// DirectRetry tries again to upgrade relayed connections to direct ones.
//
// libp2p's hole punching (DCUtR) starts only when a relayed connection arrives: the side
// that accepts it coordinates up to three simultaneous dials through the two NATs, and then
// never again for that connection. A punch lost to a busy moment (a late synchronisation
// message, a dial that missed its window) would leave two contacts on the relay for as long
// as the connection lives. So the side that opened a relayed connection, once the
// connection has stayed relayed for Settle, closes it and opens it again through the same
// circuit, which makes the other side's hole punching service try again; it waits twice as
// long before each further retry, up to MaxBackoff, and forgets a peer once a direct
// connection to it exists or it is gone. Only the opener acts, so the two sides never both
// reconnect. A peer behind a NAT that defeats hole punching is tried again at MaxBackoff
// for as long as it stays connected; what is in flight on the closed connection is resent
// by its owner (the outbox resends what was not acknowledged; presence reopens its stream).
type DirectRetry struct {
	Host host.Host
	// Every is how often connections are looked at (default 10 s).
	Every time.Duration
	// Settle is how long a relayed connection is left to hole punching before the first
	// retry (default 30 s).
	Settle time.Duration
	// MaxBackoff bounds the wait between retries (default 16 minutes).
	MaxBackoff time.Duration
	// DialTimeout bounds one reconnection through the circuit (default 30 s).
	DialTimeout time.Duration
	Log         *slog.Logger
}

type retryState struct {
	next    time.Time
	backoff time.Duration
}

// Run looks at connections every d.Every until ctx ends, and returns ctx's error.
func (d DirectRetry) Run(ctx context.Context) error {
	d.defaults()
	t := time.NewTicker(d.Every)
	defer t.Stop()
	peers := map[peer.ID]*retryState{}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			d.round(ctx, now, peers)
		}
	}
}

func (d *DirectRetry) defaults() {
	if d.Every <= 0 {
		d.Every = 10 * time.Second
	}
	if d.Settle <= 0 {
		d.Settle = 30 * time.Second
	}
	if d.MaxBackoff <= 0 {
		d.MaxBackoff = 16 * time.Minute
	}
	if d.DialTimeout <= 0 {
		d.DialTimeout = 30 * time.Second
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
}

// round retries the peers due now, one after another (a personal node has few relayed
// peers, and a reconnection is bounded by DialTimeout).
func (d *DirectRetry) round(ctx context.Context, now time.Time, peers map[peer.ID]*retryState) {
	connected := map[peer.ID]bool{}
	for _, p := range d.Host.Network().Peers() {
		connected[p] = true
		conns := d.Host.Network().ConnsToPeer(p)
		circuit, relayedOnly := opened(conns, now.Add(-d.Settle))
		if !relayedOnly {
			delete(peers, p)
			continue
		}
		if circuit == nil {
			continue // the other side opened it, or it is young: not ours to retry yet
		}
		st := peers[p]
		if st == nil {
			st = &retryState{backoff: d.Settle}
			peers[p] = st
		}
		if now.Before(st.next) {
			continue
		}
		st.next, st.backoff = now.Add(st.backoff), min(2*st.backoff, d.MaxBackoff)
		d.reconnect(ctx, p, conns, circuit)
	}
	for p := range peers {
		if !connected[p] {
			delete(peers, p)
		}
	}
}

// opened reports whether every connection in conns is relayed, and if so returns the
// circuit address of one this side opened before cutoff (nil if there is none).
func opened(conns []network.Conn, cutoff time.Time) (ma.Multiaddr, bool) {
	if len(conns) == 0 {
		return nil, false
	}
	var circuit ma.Multiaddr
	for _, c := range conns {
		if !isCircuit(c.RemoteMultiaddr()) {
			return nil, false
		}
		st := c.Stat()
		if st.Direction == network.DirOutbound && st.Opened.Before(cutoff) {
			circuit = c.RemoteMultiaddr()
		}
	}
	return circuit, true
}

func (d *DirectRetry) reconnect(ctx context.Context, p peer.ID, conns []network.Conn, circuit ma.Multiaddr) {
	for _, c := range conns {
		c.Close()
	}
	dctx, cancel := context.WithTimeout(ctx, d.DialTimeout)
	defer cancel()
	err := d.Host.Connect(dctx, peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{circuit}})
	d.Log.Debug("relayed connection opened again for another hole punch", "peer", p, "via", circuit, "err", err)
}

// isCircuit reports whether a is a relay circuit address.
func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}
