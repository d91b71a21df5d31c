package relaytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// Relay is a running test relay.
type Relay struct {
	*relayserver.Server
	// Info is what relay.json would hold: peer id, full multiaddrs, metrics URL.
	Info relayserver.Info
	// Dir is the relay's data directory.
	Dir string

	stop func() error
}

// Config is relayserver.DefaultConfig for tests: loopback TCP only, metrics on a free
// loopback port, no deposit or registration rate limits, circuit relay on.
func Config() relayserver.Config {
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.Mailbox.PeerRate, cfg.Mailbox.MailboxRate = 0, 0
	cfg.Registration.Rate = 0
	return cfg
}

// Start runs a relay with cfg (Config() when nil) in a fresh temporary directory and stops
// it at the end of the test.
func Start(tb testing.TB, cfg *relayserver.Config) *Relay {
	tb.Helper()
	return StartIn(tb, cfg, tb.TempDir())
}

// StartIn is Start on a given data directory (to restart a relay on the same store).
func StartIn(tb testing.TB, cfg *relayserver.Config, dir string) *Relay {
	tb.Helper()
	c := Config()
	if cfg != nil {
		c = *cfg
	}
	s, err := relayserver.New(c, relayserver.Options{DataDir: dir})
	if err != nil {
		tb.Fatalf("relaytest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan relayserver.Info, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(i relayserver.Info) { ready <- i }) }()
	r := &Relay{Server: s, Dir: dir}
	select {
	case r.Info = <-ready:
	case err := <-done:
		cancel()
		tb.Fatalf("relaytest: relay exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatal("relaytest: relay not ready after 30 s")
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	tb.Cleanup(func() {
		if err := r.stop(); err != nil {
			tb.Errorf("relaytest: shutdown: %v", err)
		}
	})
	return r
}

// Stop shuts the relay down gracefully (idempotent; the test's end does it too).
func (r *Relay) Stop() error { return r.stop() }

// AddrInfo is the relay's peer id and addresses, for host.Connect.
func (r *Relay) AddrInfo() peer.AddrInfo {
	ai, err := peer.AddrInfoFromString(r.Info.Addrs[0])
	if err != nil {
		panic("relaytest: relay address without /p2p: " + err.Error())
	}
	ai.Addrs = nil
	for _, a := range r.Info.Addrs {
		if x, err := peer.AddrInfoFromString(a); err == nil {
			ai.Addrs = append(ai.Addrs, x.Addrs...)
		}
	}
	return *ai
}

// ID is the relay's peer id.
func (r *Relay) ID() peer.ID { return r.Host().ID() }
