package rclimits

import (
	"testing"

	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

var q = Quotas{MaxConns: 512, MaxInboundConns: 256, ConnsPerPeer: 8, MaxStreams: 4096, StreamsPerPeer: 256, MemoryBytes: 128 << 20, FDs: 1024}

// TestQuotasOverrideTheScaledDefaults: every figure of the quotas is the limit at its scope,
// whatever libp2p's scaling would have given.
func TestQuotasOverrideTheScaledDefaults(t *testing.T) {
	p := Build(q, Options{}).ToPartialLimitConfig()
	for _, c := range []struct {
		name      string
		got, want rcmgr.LimitVal
	}{
		{"system conns", p.System.Conns, 512},
		{"system inbound conns", p.System.ConnsInbound, 256},
		{"system outbound conns", p.System.ConnsOutbound, 512},
		{"system streams", p.System.Streams, 4096},
		{"system fds", p.System.FD, 1024},
		{"transient conns", p.Transient.Conns, 64},
		{"transient inbound conns", p.Transient.ConnsInbound, 64},
		{"transient streams", p.Transient.Streams, 512},
		{"peer conns", p.PeerDefault.Conns, 8},
		{"peer streams", p.PeerDefault.Streams, 256},
		{"peer inbound streams", p.PeerDefault.StreamsInbound, 256},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if p.System.Memory != rcmgr.LimitVal64(128<<20) {
		t.Errorf("system memory = %v", p.System.Memory)
	}
}

// TestDirectionalStreamsAndServices: a relay's options cap the streams in each direction and
// per service; without them those limits are libp2p's own.
func TestDirectionalStreamsAndServices(t *testing.T) {
	plain := Build(q, Options{}).ToPartialLimitConfig()
	if plain.System.StreamsInbound == 4096 && plain.Transient.StreamsInbound == 512 {
		t.Fatalf("without DirectionalStreams the inbound streams are already ours: the test proves nothing")
	}
	svc := rcmgr.ResourceLimits{Streams: 100, StreamsInbound: 100, Memory: rcmgr.LimitVal64(1 << 20)}
	peer := rcmgr.ResourceLimits{Streams: 7, StreamsInbound: 7, Memory: rcmgr.LimitVal64(16 << 20)}
	p := Build(q, Options{DirectionalStreams: true, Services: map[string]rcmgr.ResourceLimits{"petrel.test": svc}, ServicePeer: &peer}).ToPartialLimitConfig()
	if p.System.StreamsInbound != 4096 || p.System.StreamsOutbound != 4096 || p.Transient.StreamsInbound != 512 {
		t.Errorf("directional streams: system %v/%v, transient %v", p.System.StreamsInbound, p.System.StreamsOutbound, p.Transient.StreamsInbound)
	}
	if got := p.Service["petrel.test"]; got.Streams != 100 || got.StreamsInbound != 100 || got.Memory != rcmgr.LimitVal64(1<<20) {
		t.Errorf("service limits %+v", got)
	}
	if p.ServicePeerDefault.Streams != 7 || p.ServicePeerDefault.StreamsInbound != 7 {
		t.Errorf("service peer limits %+v", p.ServicePeerDefault)
	}
}
