package relayserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// Resource-manager service names of the relay's protocols.
const (
	serviceMailbox   = "petrel.mailbox"
	servicePrekeyDir = "petrel.prekeydir"
)

// maxEnvelopeWire is the largest envelope a Deposit frame can carry.
const maxEnvelopeWire = relaywire.MaxFrame - 2 - 255

// streamMemory is what each stream reserves in the resource manager for its buffers.
const streamMemory = 16 << 10

// Options are what a Server needs besides its Config.
type Options struct {
	// DataDir holds the relay's key (relay.key) and store (store/). Required.
	DataDir string
	Logger  *slog.Logger
	// UserAgent is announced by identify.
	UserAgent string
	// Store tunes Badger (zero: defaults); OnDeposit is set by the server.
	Store relaystore.Options
	// Now is the clock (nil: time.Now); tests move it to expire mail.
	Now func() time.Time
	// ClusterWait bounds how long New waits for a relay cluster to have a quorum (0: 10
	// minutes); a new cluster's first process waits there for its peers.
	ClusterWait time.Duration
}

// openStore opens the Badger store in DataDir/store, or with a `cluster` config the
// cluster store.
func openStore(cfg *Config, o *Options, log *slog.Logger, notify func([]byte, uint64)) (Store, error) {
	if cfg.Cluster == nil {
		so := o.Store
		so.Logger = log.With("component", "store")
		so.OnDeposit = notify
		return relaystore.Open(filepath.Join(o.DataDir, "store"), so)
	}
	wait := o.ClusterWait
	if wait == 0 {
		wait = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	m := cfg.Mailbox
	return clusterstore.Open(ctx, *cfg.Cluster, clusterstore.Options{
		DataDir: o.DataDir, Logger: log.With("component", "cluster"), OnDeposit: notify,
		Quota: relaystore.Quota{MaxBytes: m.MaxBytes, MaxMessages: m.MaxMessages, TTL: time.Duration(m.TTL)},
	})
}

// Info is what a running relay tells the world (relay.json).
type Info struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`
	Metrics string   `json:"metrics,omitempty"`
}

// Server is a petrel relay: the libp2p host with the circuit relay v2 and AutoNAT services,
// the mailbox and prekey directory protocols, the store, the purge loop and the metrics
// endpoint. New builds it; Run serves until its context ends, then closes everything.
type Server struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	host  host.Host
	store Store
	watch *watchers
	m     *metrics
	push  *pushService // nil without a push config
	blobs *blobService

	circuit      *relayv2.Relay
	circuitStats *circuitTracer

	peerRate, mailboxRate, bundleRate, registerRate *limiters
	invites                                         map[string]bool
	allow                                           map[peer.ID]bool

	ctx      context.Context // handlers' context: cancelled when Run shuts down
	cancel   context.CancelFunc
	closeMu  sync.Mutex
	closing  bool
	handlers sync.WaitGroup
	closed   sync.Once
	closeErr error
}

// New opens the store and starts the host (listening, but not yet serving our protocols).
// Close it with Run's end, or with Close if Run is never called.
func New(cfg Config, o Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("relay config: %w", err)
	}
	if o.DataDir == "" {
		return nil, errors.New("relay: no data directory")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	key, err := loadOrCreateKey(o.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, now: o.Now,
		watch:        newWatchers(cfg.Mailbox.MaxWatchers),
		peerRate:     newLimiters(cfg.Mailbox.PeerRate, cfg.Mailbox.PeerBurst),
		mailboxRate:  newLimiters(cfg.Mailbox.MailboxRate, cfg.Mailbox.MailboxBurst),
		bundleRate:   newLimiters(cfg.Prekeys.BundleRate, cfg.Prekeys.BundleBurst),
		registerRate: newLimiters(cfg.Registration.Rate, cfg.Registration.Burst),
		blobs:        newBlobService(cfg.Blobs),
		invites:      map[string]bool{},
		allow:        map[peer.ID]bool{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, c := range cfg.Registration.InviteCodes {
		s.invites[c] = true
	}
	for _, p := range cfg.Registration.AllowPeers {
		id, _ := peer.Decode(p) // validated
		s.allow[id] = true
	}
	if s.store, err = openStore(&cfg, &o, log, s.watch.notify); err != nil {
		return nil, err
	}
	s.host, err = newHost(key, &cfg, o.UserAgent)
	if err != nil {
		s.store.Close()
		return nil, err
	}
	if cfg.Circuit.Enabled {
		c := cfg.Circuit
		res := relayv2.DefaultResources()
		res.MaxReservations = c.MaxReservations
		res.MaxReservationsPerIP = c.MaxReservationsPerIP
		res.MaxCircuits = c.MaxCircuits
		res.ReservationTTL = time.Duration(c.ReservationTTL)
		res.Limit = &relayv2.RelayLimit{Duration: time.Duration(c.Duration), Data: c.DataBytes}
		s.circuitStats = newCircuitTracer()
		s.circuit, err = relayv2.New(s.host, relayv2.WithResources(res), relayv2.WithMetricsTracer(s.circuitStats))
		if err != nil {
			s.host.Close()
			s.store.Close()
			return nil, fmt.Errorf("relay: circuit relay service: %w", err)
		}
	}
	s.m = newMetrics(s)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Push != nil {
		s.push, err = newPushService(*cfg.Push, o.DataDir, s.store, s.m.reg, log.With("component", "push"), func() context.Context { return s.ctx })
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Host returns the relay's libp2p host.
func (s *Server) Host() host.Host { return s.host }

// Info returns the relay's peer id and full listen multiaddrs: this process's, then (in a
// cluster whose processes share relay.key) the other processes' (cluster_addrs.go).
func (s *Server) Info() Info {
	return Info{PeerID: s.host.ID().String(), Addrs: s.withClusterAddrs(s.ownAddrs())}
}

// ownAddrs are this process's full listen multiaddrs.
func (s *Server) ownAddrs() []string {
	var out []string
	p2p, _ := ma.NewComponent("p2p", s.host.ID().String())
	for _, a := range s.host.Addrs() {
		out = append(out, a.Encapsulate(p2p.Multiaddr()).String())
	}
	return out
}

// Stats returns the store's totals.
func (s *Server) Stats() relaystore.Stats { return s.store.Stats() }

// Run serves the relay protocols, the purge loop and the metrics endpoint until ctx ends,
// calling ready (if not nil) once everything listens. It then shuts down gracefully: stops
// taking streams, waits for the handlers, closes the circuit service, the host and the
// store. Run returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, ready func(Info)) error {
	defer s.Close()
	g, gctx := errgroup.WithContext(ctx)

	info := Info{PeerID: s.host.ID().String(), Addrs: s.awaitClusterAddrs(gctx)}
	var srv *http.Server
	if s.cfg.MetricsAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("relay: metrics listener: %w", err)
		}
		info.Metrics = "http://" + ln.Addr().String()
		srv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("relay: metrics: %w", err)
			}
			return nil
		})
	}
	s.host.SetStreamHandler(relaywire.MailboxProtocol,
		s.serveStream(serviceMailbox, min(relaywire.MaxFrame, s.cfg.Mailbox.MaxEnvelopeBytes+relaywire.MaxMultiOverhead), s.handleMailbox))
	s.host.SetStreamHandler(relaywire.PrekeyDirProtocol,
		s.serveStream(servicePrekeyDir, relaywire.MaxFrame, s.handlePrekeyDir))
	if s.cfg.Blobs.Enabled {
		s.host.SetStreamHandler(relaywire.BlobProtocol, s.serveStream(serviceBlob, blobFrameLimit, s.handleBlob))
	}
	g.Go(func() error { s.maintain(gctx); return nil })
	if s.push != nil {
		s.host.SetStreamHandler(relaywire.PushProtocol, s.serveStream(servicePush, pushFrameLimit, s.handlePush))
		g.Go(func() error { return s.push.bridge.Run(gctx) })
	}
	s.log.Info("relay ready", "peer_id", info.PeerID, "addrs", info.Addrs, "metrics", info.Metrics)
	if ready != nil {
		ready(info)
	}
	<-gctx.Done()

	s.host.RemoveStreamHandler(relaywire.MailboxProtocol)
	s.host.RemoveStreamHandler(relaywire.PrekeyDirProtocol)
	s.host.RemoveStreamHandler(relaywire.PushProtocol)
	s.host.RemoveStreamHandler(relaywire.BlobProtocol)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		cancel()
	}
	err := g.Wait()
	s.log.Info("relay stopping")
	return err
}

// Close stops the handlers and closes the circuit service, the host and the store. Run
// calls it; it is safe to call more than once.
func (s *Server) Close() error {
	s.closed.Do(func() {
		s.closeMu.Lock()
		s.closing = true
		s.closeMu.Unlock()
		s.cancel() // watch streams end
		if s.circuit != nil {
			s.circuit.Close()
		}
		err := s.host.Close() // resets every stream still open
		s.handlers.Wait()
		s.closeErr = errors.Join(err, s.store.Close())
	})
	return s.closeErr
}

// maintain runs the purge of expired mail and the sweep of idle rate buckets, every
// purge interval, until ctx ends.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(time.Duration(s.cfg.Mailbox.PurgeInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.PurgeNow(ctx)
	}
}

// PurgeNow deletes expired mail, sweeps idle rate buckets and runs Badger's value-log GC
// (the maintenance loop's work, callable by tests).
func (s *Server) PurgeNow(ctx context.Context) (int, error) {
	now := s.now()
	n, err := s.store.PurgeExpired(ctx, now)
	if n > 0 {
		s.m.purged.Add(float64(n))
		s.log.Info("purged expired mail", "messages", n)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Error("purge failed", "err", err)
	}
	s.peerRate.sweep(now)
	s.mailboxRate.sweep(now)
	s.bundleRate.sweep(now)
	s.registerRate.sweep(now)
	s.purgeBlobs(ctx, now)
	s.publishAddrs(ctx)
	s.blobs.sweep(now)
	if k, gcErr := s.store.CollectGarbage(4); gcErr != nil {
		s.log.Error("value log GC failed", "err", gcErr)
	} else if k > 0 {
		s.log.Info("value log GC rewrote files", "files", k)
	}
	return n, err
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.ctx.Err() != nil {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		cs, ok := s.store.(*clusterstore.Store)
		if !ok {
			fmt.Fprintln(w, "ok")
			return
		}
		// A cluster process is healthy when it can store mail: connected, and the mail
		// stream has a leader that answered.
		st := cs.State()
		if !st.Healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unavailable")
		} else {
			fmt.Fprintln(w, "ok")
		}
		fmt.Fprintln(w, st.Summary())
	})
	return mux
}
