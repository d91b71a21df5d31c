package relayserver_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/sealed"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relayserver"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// testRelay is a real relay on loopback TCP with its store in a temp dir.
type testRelay struct {
	*relayserver.Server
	info relayserver.Info
	dir  string
	stop func() error
	now  *clock
}

// clock is a movable clock for TTL tests.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func testConfig() relayserver.Config {
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.Circuit.Enabled = false
	return cfg
}

func startRelay(t testing.TB, cfg relayserver.Config) *testRelay {
	t.Helper()
	return startRelayIn(t, cfg, t.TempDir())
}

func startRelayIn(t testing.TB, cfg relayserver.Config, dir string) *testRelay {
	t.Helper()
	clk := &clock{}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := relayserver.Options{DataDir: dir, Now: clk.Now, Logger: log}
	// PETREL_BENCH_MEMTABLE_MB sizes the Badger store's memtables (the benchmarks compare
	// sizes; unset: relaystore's default).
	opts.Store.MemTableBytes = int64(envInt("PETREL_BENCH_MEMTABLE_MB", 0)) << 20
	s, err := relayserver.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan relayserver.Info, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(i relayserver.Info) { ready <- i }) }()
	r := &testRelay{Server: s, dir: dir, now: clk}
	select {
	case r.info = <-ready:
	case err := <-done:
		t.Fatalf("relay exited: %v", err)
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
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("relay shutdown: %v", err)
		}
		// A recovered panic is a bug even though the relay survived it.
		if out := logs.String(); strings.Contains(out, "panicked") {
			t.Errorf("the relay logged a panic:\n%s", out)
		}
	})
	return r
}

// syncBuffer collects a relay's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type hostT = host.Host

type relayserverConfig = relayserver.Config

// newBareHost is a dial-only host like newNode's, for the idle-node child process.
func newBareHost() (host.Host, error) {
	return libp2p.New(
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableMetrics(),
	)
}

// newNode is a libp2p host connected to the relay (as a node would be).
func newNode(t testing.TB, r *testRelay) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if r != nil {
		connect(t, h, r)
	}
	return h
}

// newListeningNode is a host on loopback TCP that others can dial.
func newListeningNode(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t testing.TB, h host.Host, r *testRelay) {
	t.Helper()
	ai, err := peer.AddrInfoFromString(r.info.Addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
}

func (r *testRelay) id() peer.ID { return r.Host().ID() }

// user is an identity with its mailbox id, and an X25519 key its envelopes are sealed to
// (the relay never looks past the envelope header, so which key does not matter here).
type user struct {
	id *identity.Identity
	mb []byte
	dh *ecdh.PrivateKey
}

func newUser(t testing.TB) user {
	t.Helper()
	id, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return user{id: id, mb: relaywire.MailboxID(id.Public()), dh: dh}
}

// sender holds raw sender keys for sealing.
type sender struct {
	sign ed25519.PrivateKey
	dh   *ecdh.PrivateKey
}

func newSender(t testing.TB) sender {
	t.Helper()
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sender{sign: sk, dh: dh}
}

func (s sender) seal(t testing.TB, to user, payload string) []byte {
	t.Helper()
	env, err := sealed.Seal(to.mb, to.dh.PublicKey(), s.sign, s.dh.PublicKey(), []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func register(t testing.TB, h host.Host, r *testRelay, u user) {
	t.Helper()
	if err := mailboxclient.Register(context.Background(), h, r.id(), u.id); err != nil {
		t.Fatalf("register: %v", err)
	}
}
