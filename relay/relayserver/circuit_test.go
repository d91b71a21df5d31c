package relayserver_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// TestCircuitRelayReachesNodeWithoutAddresses: a node that listens on nothing reserves a
// slot at the relay and is dialled through it (/p2p-circuit); the relayed connection carries
// a stream; the relay's configured limits reach the reservation.
func TestCircuitRelayReachesNodeWithoutAddresses(t *testing.T) {
	cfg := testConfig()
	cfg.Circuit.Enabled = true
	cfg.Circuit.DataBytes = 64 << 10
	r := startRelay(t, cfg)
	newRelayClient := func() host.Host {
		h, err := libp2p.New(
			libp2p.NoListenAddrs,
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(noise.ID, noise.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
			libp2p.EnableRelay(),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	hidden, caller := newRelayClient(), newRelayClient()
	relayAI, err := peer.AddrInfoFromString(r.info.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := hidden.Connect(ctx, *relayAI); err != nil {
		t.Fatal(err)
	}
	res, err := client.Reserve(ctx, hidden, *relayAI)
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if res.LimitData != uint64(cfg.Circuit.DataBytes) || res.LimitDuration != time.Duration(cfg.Circuit.Duration) {
		t.Errorf("reservation limits %d bytes %v, want the configured %d and %v",
			res.LimitData, res.LimitDuration, cfg.Circuit.DataBytes, time.Duration(cfg.Circuit.Duration))
	}
	hidden.SetStreamHandler("/petrel/test-echo", func(s network.Stream) {
		defer s.Close()
		io.Copy(s, io.LimitReader(s, 5))
	})
	circuit, err := ma.NewMultiaddr(r.info.Addrs[0] + "/p2p-circuit")
	if err != nil {
		t.Fatal(err)
	}
	if err := caller.Connect(ctx, peer.AddrInfo{ID: hidden.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("dial through the relay: %v", err)
	}
	sctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(ctx, "test"), 10*time.Second)
	defer cancel()
	s, err := caller.NewStream(sctx, hidden.ID(), "/petrel/test-echo")
	if err != nil {
		t.Fatalf("stream over the circuit: %v", err)
	}
	s.Write([]byte("hello"))
	got, _ := io.ReadAll(s)
	if !bytes.Equal(got, []byte("hello")) {
		t.Errorf("echo over the circuit: %q", got)
	}
	if c := s.Conn(); !c.Stat().Limited {
		t.Errorf("the connection is not a limited (relayed) one: %v", c.RemoteMultiaddr())
	}
	// The circuit service's counters moved: one reservation held, one circuit opened,
	// the echo's bytes relayed; a circuit to a peer without a reservation is refused and
	// counted by its reason.
	stranger := newRelayClient()
	if err := caller.Connect(ctx, peer.AddrInfo{ID: stranger.ID(), Addrs: []ma.Multiaddr{circuit}}); err == nil {
		t.Error("a circuit to a peer without a reservation was opened")
	}
	m := metricsText(t, r)
	for _, want := range []string{
		"petrel_relay_circuit_reservations 1",
		"petrel_relay_circuit_opened_total 1",
		`petrel_relay_circuit_reservation_requests_total{status="ok"} 1`,
		`petrel_relay_circuit_connect_requests_total{status="ok"} 1`,
		`petrel_relay_circuit_connect_requests_total{status="no_reservation"} 1`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if n := metricValue(t, m, "petrel_relay_circuit_relayed_bytes_total"); n < 10 {
		t.Errorf("relayed bytes %v, want at least the 10 bytes of the echo", n)
	}
}

// metricValue is the value of the unlabelled series name in a /metrics text.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}
