package clusterstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/relaystore"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// Options are what Open needs besides the Config.
type Options struct {
	// DataDir is the relay's data directory: the embedded server keeps its files in
	// DataDir/jetstream and its encryption key in DataDir/jetstream.key.
	DataDir string
	Logger  *slog.Logger
	// OnDeposit is called after a deposit at any process of the cluster is durable, with
	// the mailbox and about how many messages it holds. It must not block.
	OnDeposit func(mailbox []byte, waiting uint64)
	// Quota is the relay's mailbox quota: MaxMessages is enforced by JetStream itself
	// (per-subject limit of the mail stream), TTL sets how long shared bodies are kept.
	Quota relaystore.Quota
}

// Store is the relay's state in NATS JetStream, shared by every process of the cluster.
// Safe for concurrent use.
type Store struct {
	cfg   Config
	log   *slog.Logger
	on    func([]byte, uint64)
	ns    *server.Server // nil with an external cluster
	nc    *nats.Conn
	js    jetstream.JetStream
	mail  jetstream.Stream
	body  jetstream.Stream
	exp   jetstream.Stream // the expiry index (expiry.go)
	reg   jetstream.KeyValue
	use   jetstream.KeyValue
	pre   jetstream.KeyValue
	refs  jetstream.KeyValue
	push  jetstream.KeyValue
	blob  *blobState         // blob.go
	addrs jetstream.KeyValue // addrs.go

	usage *usageTracker
	sub   *nats.Subscription

	regMu    sync.Mutex
	regCache map[string]*identity.PublicIdentity

	acks ackCache

	stats     atomic.Pointer[relaystore.Stats]
	state     atomic.Pointer[State]
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts the embedded NATS server (or connects to the external cluster), creates or
// updates the streams and buckets, and loads the mailbox usage. It waits, until ctx ends,
// for the cluster to have a quorum: a new cluster's first process waits for its peers.
func Open(ctx context.Context, cfg Config, o Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: c, log: log, on: o.OnDeposit, regCache: map[string]*identity.PublicIdentity{}}
	s.acks.m = map[uint64]ackInfo{}
	if s.on == nil {
		s.on = func([]byte, uint64) {}
	}
	var err error
	var token string
	if c.Embedded() {
		if s.ns, token, err = startEmbedded(c, o.DataDir, log); err != nil {
			return nil, err
		}
	}
	if s.nc, err = connect(c, s.ns, token, log); err != nil {
		s.shutdownEngine()
		return nil, err
	}
	s.js, err = jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		s.shutdownEngine()
		return nil, fmt.Errorf("clusterstore: %w", err)
	}
	if err := s.setup(ctx, o.Quota); err != nil {
		s.shutdownEngine()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.setupAddrs(ctx); err != nil {
		s.cancel()
		s.shutdownEngine()
		return nil, err
	}
	if err := s.setupBlobs(ctx, o.Quota); err != nil {
		s.cancel()
		s.shutdownEngine()
		return nil, err
	}
	s.usage = newUsageTracker(s)
	if err := s.usage.load(ctx); err != nil {
		s.cancel()
		s.shutdownEngine()
		return nil, err
	}
	s.sub, err = s.nc.Subscribe(s.subject("notice", "*"), s.onNotice)
	if err != nil {
		s.cancel()
		s.shutdownEngine()
		return nil, fmt.Errorf("clusterstore: subscribe to notices: %w", err)
	}
	s.refreshStats(ctx)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.usage.flushLoop(s.ctx) }()
	go func() { defer s.wg.Done(); s.statsLoop(s.ctx) }()
	return s, nil
}

func (s *Store) subject(parts ...string) string {
	return s.cfg.Prefix + "." + strings.Join(parts, ".")
}

func (s *Store) mailSubject(mb []byte) string { return s.subject("mail", hex.EncodeToString(mb)) }

// setup creates or updates the streams and buckets, retrying until the cluster answers.
func (s *Store) setup(ctx context.Context, q relaystore.Quota) error {
	up := strings.ToUpper(s.cfg.Prefix)
	r := s.cfg.Replicas
	bodyAge := q.TTL + time.Hour
	if q.TTL <= 0 {
		bodyAge = 0
	}
	// No direct gets on the streams: a replica may lag behind the leader, and a read of a
	// message just acknowledged (a body, an acknowledgement's record) must find it.
	mailCfg := jetstream.StreamConfig{
		Name: up + "_MAIL", Subjects: []string{s.subject("mail", "*")},
		Storage: jetstream.FileStorage, Replicas: r,
		Discard: jetstream.DiscardNew, MaxMsgsPerSubject: -1,
		Description: "petrel relay mailboxes: one subject per mailbox, sealed envelopes",
	}
	if q.MaxMessages > 0 {
		mailCfg.MaxMsgsPerSubject = q.MaxMessages
		mailCfg.DiscardNewPerSubject = true
	}
	bodyCfg := jetstream.StreamConfig{
		Name: up + "_BODY", Subjects: []string{s.subject("body")},
		Storage: jetstream.FileStorage, Replicas: r, MaxAge: bodyAge,
		Description: "petrel relay multi-deposit bodies, stored once",
	}
	expCfg := jetstream.StreamConfig{
		Name: up + "_EXPIRY", Subjects: []string{s.subject("expiry", "*")},
		Storage: jetstream.FileStorage, Replicas: r, MaxAge: bodyAge,
		Description: "petrel relay expiry index: mail that expires before its TTL, by minute",
	}
	kvs := []struct {
		dst *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&s.reg, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_reg", Description: "registrations: mailbox → owner identity"}},
		{&s.use, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_usage", Description: "mailbox usage: messages and bytes charged"}},
		{&s.pre, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_prekeys", Description: "prekey directory"}},
		{&s.refs, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_refs", Description: "references to multi-deposit bodies", TTL: bodyAge}},
		{&s.push, jetstream.KeyValueConfig{Bucket: s.cfg.Prefix + "_push", Description: "push registrations (sealed to the bridge) and do-not-disturb"}},
	}
	wait := time.Duration(0)
	for attempt := 0; ; attempt++ {
		if s.ns != nil && len(s.cfg.Routes) > 0 && s.metaLeader() == "" {
			// No JetStream meta leader yet (the cluster is forming): requests would only
			// time out.
			select {
			case <-ctx.Done():
				return fmt.Errorf("clusterstore: the cluster has no quorum (no JetStream meta leader): %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if attempt%50 == 0 {
				s.log.Info("waiting for the cluster to elect a JetStream leader", "routes", s.ns.NumRoutes())
			}
			continue
		}
		err := func() error {
			rctx, cancel := context.WithTimeout(ctx, min(2*time.Second, time.Duration(s.cfg.Timeout)))
			defer cancel()
			var err error
			if s.mail, err = s.js.CreateOrUpdateStream(rctx, mailCfg); err != nil {
				return fmt.Errorf("mail stream: %w", err)
			}
			if s.body, err = s.js.CreateOrUpdateStream(rctx, bodyCfg); err != nil {
				return fmt.Errorf("body stream: %w", err)
			}
			if s.exp, err = s.js.CreateOrUpdateStream(rctx, expCfg); err != nil {
				return fmt.Errorf("expiry stream: %w", err)
			}
			for _, b := range kvs {
				c := b.cfg
				c.Storage, c.Replicas, c.History = jetstream.FileStorage, r, 1
				if *b.dst, err = s.js.CreateOrUpdateKeyValue(rctx, c); err != nil {
					return fmt.Errorf("bucket %s: %w", c.Bucket, err)
				}
			}
			return nil
		}()
		if err == nil {
			return nil
		}
		if attempt%10 == 0 {
			s.log.Info("waiting for the cluster to have a quorum", "err", err)
		}
		wait = min(wait+200*time.Millisecond, 2*time.Second)
		select {
		case <-ctx.Done():
			return fmt.Errorf("clusterstore: the cluster has no quorum: %w", err)
		case <-time.After(wait):
		}
	}
}

// metaLeader is the embedded server's view of the JetStream meta leader ("" if none).
func (s *Store) metaLeader() string {
	jsz, err := s.ns.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return ""
	}
	return jsz.Meta.Leader
}

func (s *Store) onNotice(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	mb, err := hex.DecodeString(m.Subject[i+1:])
	if err != nil || len(mb) != relaywire.MailboxIDSize || len(m.Data) != 8 {
		return
	}
	s.on(mb, beUint64(m.Data))
}

// Close flushes pending usage, stops the loops, drains the connection and shuts the
// embedded server down.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.usage.flush(ctx)
		cancel()
		if s.sub != nil {
			s.sub.Unsubscribe()
		}
		s.shutdownEngine()
	})
	return s.closeErr
}

func (s *Store) shutdownEngine() {
	if s.nc != nil {
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
}

// CollectGarbage is a no-op: JetStream compacts its own files.
func (s *Store) CollectGarbage(int) (int, error) { return 0, nil }

// Stats returns the cluster-wide totals, refreshed every two seconds.
func (s *Store) Stats() relaystore.Stats {
	if p := s.stats.Load(); p != nil {
		return *p
	}
	return relaystore.Stats{}
}

func (s *Store) statsLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.refreshStats(ctx)
	}
}

func (s *Store) refreshStats(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
	defer cancel()
	st := relaystore.Stats{}
	st.Bytes = s.usage.totalBytes()
	if rs, err := s.reg.Status(ctx); err == nil {
		st.Mailboxes = int64(rs.Values())
	}
	if mi, err := s.mail.Info(ctx); err == nil {
		st.Messages = int64(mi.State.Msgs)
	}
	if bi, err := s.body.Info(ctx); err == nil {
		st.SharedBodies, st.SharedBytes = int64(bi.State.Msgs), int64(bi.State.Bytes)
	}
	s.stats.Store(&st)
	s.state.Store(s.readState(ctx))
}

// req returns a context for one JetStream request.
func (s *Store) req(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(s.cfg.Timeout))
}

func beUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func isNotFound(err error) bool {
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrMsgNotFound) {
		return true
	}
	// A delete of a message that is not there (any more) fails with error 10057, which
	// the client reports as text; or with 10043 ("sequence not found") when the message was
	// below the stream's first sequence by then (another process purged the front).
	return errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) &&
		(strings.Contains(err.Error(), "err_code=10057") || strings.Contains(err.Error(), "err_code=10043"))
}

// isConflict says whether err is a compare-and-set conflict of a bucket write: the key
// exists (Create), or its revision moved on (Update, Delete with LastRevision; replicated
// buckets report these with their own code).
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
