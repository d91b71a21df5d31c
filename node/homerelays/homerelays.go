package homerelays

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
)

// Home relay parameters.
const (
	// drainBatch is how many envelopes one fetch round takes (and one store transaction
	// processes).
	drainBatch = 256
	// prekeyLowWater: below this many one-time prekeys of either kind at a relay, the node
	// uploads more.
	prekeyLowWater = 10
	// relayRetryMax caps the delay between attempts to reach a home relay.
	relayRetryMax = 30 * time.Second
	// DefaultPoll drains even without a watch notice, in case one was missed.
	DefaultPoll = time.Minute
)

// InviteMark separates a home relay's address from its registration invite code in
// --relay ADDR#invite=CODE. The code is for registering only: it never goes into invite
// links or cards.
const InviteMark = "#invite="

// SplitInvites returns the relay addresses without invite codes, and the codes.
func SplitInvites(relays []string) ([]string, map[string]string, error) {
	out := make([]string, 0, len(relays))
	codes := map[string]string{}
	for _, r := range relays {
		addr, code, found := strings.Cut(r, InviteMark)
		if found && code == "" {
			return nil, nil, fmt.Errorf("relay %q: empty invite code", addr)
		}
		if _, err := ParseRelay(addr); err != nil {
			return nil, nil, err
		}
		out = append(out, addr)
		if found {
			codes[addr] = code
		}
	}
	return out, codes, nil
}

// ParseRelay parses a home relay's full multiaddr (with /p2p/).
func ParseRelay(s string) (*peer.AddrInfo, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("relay address %q: %w", s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("relay address %q (needs /p2p/): %w", s, err)
	}
	return ai, nil
}

// Config is what the home relays need: the node's host and identity, and the messenger's
// three entry points, as functions (this package knows nothing of the messenger).
type Config struct {
	Host     host.Host
	Identity *identity.Identity
	Logger   *slog.Logger
	// Invites are registration invite codes, relay → code, where a relay needs one.
	Invites map[string]string
	// Poll is how often each relay is drained and its prekeys checked without a notice;
	// zero means DefaultPoll.
	Poll time.Duration
	// Receive makes a drained batch of sealed envelopes durable (messenger.ReceiveSealed);
	// the batch is acknowledged to the relay only once it returns nil.
	Receive func(ctx context.Context, envelopes [][]byte) error
	// PrekeyIDs returns, without writing, the ids of the signed and last-resort prekeys a
	// relay should hold and whether they are due to rotate (messenger.CurrentPrekeyIDs).
	PrekeyIDs func() (ids [2]uint32, rotate bool, err error)
	// Prekeys sets aside up to want one-time prekeys of each kind for one relay and returns
	// the upload (messenger.PrekeysForRelay); Batch is the want when a relay runs low.
	Prekeys func(ctx context.Context, want int) (*mailboxclient.Upload, error)
	Batch   int
}

// Relays keeps the node registered at its home relays and drains its mailboxes there: on
// start, whenever a relay says mail waits, and every Poll. One goroutine per relay, all
// owned by Run.
type Relays struct {
	cfg Config
	h   host.Host
	id  *identity.Identity
	log *slog.Logger

	mu    sync.Mutex
	state map[string]bool // relay → registered and reachable
	drain sync.Mutex      // one drain at a time: mail from several relays is merged in order

	upMu     sync.Mutex
	uploaded map[peer.ID][2]uint32 // relay → ids of the signed and last-resort prekeys it holds
}

// New returns the home relays of cfg, not yet running.
func New(cfg Config) *Relays {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	return &Relays{cfg: cfg, h: cfg.Host, id: cfg.Identity, log: cfg.Logger,
		state: map[string]bool{}, uploaded: map[peer.ID][2]uint32{}}
}

// Connected reports whether the node is registered at relay and watching its mailbox now.
func (r *Relays) Connected(relay string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[relay]
}

func (r *Relays) set(relay string, ok bool) {
	r.mu.Lock()
	r.state[relay] = ok
	r.mu.Unlock()
}

// Run serves every relay until ctx ends.
func (r *Relays) Run(ctx context.Context, relays []string) error {
	var wg sync.WaitGroup
	for _, relay := range relays {
		ai, err := ParseRelay(relay)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.serve(ctx, relay, ai)
		}()
	}
	wg.Wait()
	return nil
}

// serve registers at one relay and drains it, reconnecting with backoff.
func (r *Relays) serve(ctx context.Context, relay string, ai *peer.AddrInfo) {
	attempt := 0
	for ctx.Err() == nil {
		err := r.session(ctx, relay, ai)
		r.set(relay, false)
		if ctx.Err() != nil {
			return
		}
		d := min(time.Second<<min(attempt, 5), relayRetryMax)
		d = d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
		attempt++
		r.log.Warn("home relay unavailable, retrying", "relay", relay, "err", err, "in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// session is one connected spell with a relay: register, top up prekeys, drain, then drain
// again on every notice until the watch ends.
func (r *Relays) session(ctx context.Context, relay string, ai *peer.AddrInfo) error {
	r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	r.h.ConnManager().Protect(ai.ID, "home-relay")
	if err := r.h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var opts []mailboxclient.RegisterOption
	if code := r.cfg.Invites[relay]; code != "" {
		opts = append(opts, mailboxclient.WithInvite(code))
	}
	if err := mailboxclient.Register(ctx, r.h, ai.ID, r.id, opts...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := r.topUpPrekeys(ctx, ai.ID); err != nil {
		return fmt.Errorf("prekeys: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notices, err := mailboxclient.Watch(wctx, r.h, ai.ID, r.id)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	r.set(relay, true)
	r.log.Info("home relay ready", "relay", relay)
	if err := r.drainOnce(ctx, ai.ID); err != nil {
		return err
	}
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n, ok := <-notices:
			if !ok {
				return errors.New("watch ended")
			}
			if n == 0 {
				continue
			}
		case <-poll.C:
			if err := r.topUpPrekeys(ctx, ai.ID); err != nil {
				return fmt.Errorf("prekeys: %w", err)
			}
		}
		if err := r.drainOnce(ctx, ai.ID); err != nil {
			return err
		}
	}
}

// drainOnce takes everything waiting at a relay, in order, acknowledging each round only
// once Receive made it durable.
func (r *Relays) drainOnce(ctx context.Context, relay peer.ID) error {
	r.drain.Lock()
	defer r.drain.Unlock()
	n, err := mailboxclient.Drain(ctx, r.h, relay, r.id, drainBatch, func(mail []mailboxclient.Mail) error {
		envs := make([][]byte, len(mail))
		for i, m := range mail {
			envs[i] = m.Envelope
		}
		return r.cfg.Receive(ctx, envs)
	})
	if n > 0 {
		r.log.Info("drained mailbox", "relay", relay, "messages", n)
	}
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	return nil
}

// topUpPrekeys uploads fresh one-time prekeys when the relay runs low (and the current
// signed and last-resort keys every time, so rotations reach the relay).
func (r *Relays) topUpPrekeys(ctx context.Context, relay peer.ID) error {
	rem, err := mailboxclient.PrekeyCount(ctx, r.h, relay, r.id)
	if err != nil && !errors.Is(err, mailboxclient.ErrNoPrekeys) {
		return err
	}
	low := err != nil || rem.OneTime < prekeyLowWater || rem.PQOneTime < prekeyLowWater
	// Even with one-time prekeys to spare, a relay must hear of a rotated signed or
	// last-resort prekey, or a contact would start sessions on a key that the node stops
	// answering for once its grace period ends. (After a restart the node does not know what
	// the relay holds: it uploads the two current keys once.) The check reads; only an
	// upload writes.
	want := 0
	if low {
		want = r.cfg.Batch
	} else {
		ids, rotate, err := r.cfg.PrekeyIDs()
		if err != nil {
			return err
		}
		r.upMu.Lock()
		same := r.uploaded[relay] == ids
		r.upMu.Unlock()
		if same && !rotate {
			return nil
		}
	}
	up, err := r.cfg.Prekeys(ctx, want)
	if err != nil {
		return err
	}
	ids := [2]uint32{up.SignedPrekey.ID(), up.LastResort.ID()}
	_, err = mailboxclient.UploadPrekeys(ctx, r.h, relay, r.id, up)
	if err != nil {
		return err
	}
	r.upMu.Lock()
	r.uploaded[relay] = ids
	r.upMu.Unlock()
	return nil
}
