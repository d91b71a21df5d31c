package rclimits

import (
	"github.com/libp2p/go-libp2p"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Quotas are a host's figures.
type Quotas struct {
	// MaxConns caps connections of all kinds (inbound + outbound); MaxInboundConns the
	// inbound ones; ConnsPerPeer those to a single peer.
	MaxConns, MaxInboundConns, ConnsPerPeer int
	// MaxStreams caps open streams across the host; StreamsPerPeer those to a single peer.
	MaxStreams, StreamsPerPeer int
	// MemoryBytes caps the memory the libp2p stack may reserve; FDs its file descriptors.
	MemoryBytes int64
	FDs         int
}

// Options are what a host adds to the quotas.
type Options struct {
	// DirectionalStreams also caps the system's inbound and outbound streams at MaxStreams
	// and the transient scope's inbound streams at its total (a relay, whose streams are
	// strangers'); without it those keep libp2p's scaled defaults.
	DirectionalStreams bool
	// Services are limits per libp2p service name; ServicePeer, when set, is the limit of
	// any one service for one peer. Nil keeps libp2p's.
	Services    map[string]rcmgr.ResourceLimits
	ServicePeer *rcmgr.ResourceLimits
}

// Build is the concrete limiter configuration for q and o.
func Build(q Quotas, o Options) rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(q.MemoryBytes, q.FDs)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:         rcmgr.LimitVal(q.MaxConns),
			ConnsInbound:  rcmgr.LimitVal(q.MaxInboundConns),
			ConnsOutbound: rcmgr.LimitVal(q.MaxConns),
			Streams:       rcmgr.LimitVal(q.MaxStreams),
			FD:            rcmgr.LimitVal(q.FDs),
			Memory:        rcmgr.LimitVal64(q.MemoryBytes),
		},
		Transient: rcmgr.ResourceLimits{
			Conns:        rcmgr.LimitVal(q.MaxInboundConns / 4),
			ConnsInbound: rcmgr.LimitVal(q.MaxInboundConns / 4),
			Streams:      rcmgr.LimitVal(q.MaxStreams / 8),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns:          rcmgr.LimitVal(q.ConnsPerPeer),
			ConnsInbound:   rcmgr.LimitVal(q.ConnsPerPeer),
			ConnsOutbound:  rcmgr.LimitVal(q.ConnsPerPeer),
			Streams:        rcmgr.LimitVal(q.StreamsPerPeer),
			StreamsInbound: rcmgr.LimitVal(q.StreamsPerPeer),
		},
		Service: o.Services,
	}
	if o.DirectionalStreams {
		partial.System.StreamsInbound = rcmgr.LimitVal(q.MaxStreams)
		partial.System.StreamsOutbound = rcmgr.LimitVal(q.MaxStreams)
		partial.Transient.StreamsInbound = rcmgr.LimitVal(q.MaxStreams / 8)
	}
	if o.ServicePeer != nil {
		partial.ServicePeerDefault = *o.ServicePeer
	}
	return partial.Build(base)
}
