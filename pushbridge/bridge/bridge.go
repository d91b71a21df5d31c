package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Kinds of registration (API.md §7).
const (
	KindWebPush     = "webpush"
	KindUnifiedPush = "unifiedpush"
	KindAPNs        = "apns"
	KindFCM         = "fcm"
)

// Kinds lists every kind, for metrics.
func Kinds() []string { return []string{KindWebPush, KindUnifiedPush, KindAPNs, KindFCM} }

// Defaults.
const (
	DefaultMinInterval = 10 * time.Second
	DefaultMaxRetries  = 4
	DefaultWorkers     = 16
	// maxBackoff caps a retry's wait, whatever Retry-After says.
	maxBackoff = 5 * time.Minute
	// sendTimeout bounds one attempt.
	sendTimeout = 30 * time.Second
)

// Target is one registration as the bridge sends to it, opened from its sealed form.
type Target struct {
	Owner string // the owner's mailbox id (raw bytes as a string)
	ID    string // the registration id, unique per owner
	Kind  string
	// Web Push and UnifiedPush.
	Endpoint     string
	P256dh, Auth []byte
	// APNs and FCM.
	Token, Topic string
}

func (t Target) key() string { return t.Owner + "\x00" + t.ID }

// A Sender delivers one push through a provider. payload is nil for a content-free push;
// otherwise at most MaxEnvelope+2 bytes, which the sender encrypts (RFC 8291) and pads.
type Sender interface {
	Send(ctx context.Context, t Target, payload []byte) error
}

// Registry is the bridge's view of the stored registrations.
type Registry interface {
	// Targets returns the owner's active registrations and its do-not-disturb time (zero:
	// none).
	Targets(owner []byte) (targets []Target, dndUntil time.Time, err error)
	// MarkDead records that a registration is gone, with the provider's reason.
	MarkDead(owner, id, reason string)
}

// Config configures a Bridge.
type Config struct {
	Senders  map[string]Sender // by kind; a kind without a sender is skipped
	Registry Registry
	Metrics  *Metrics // nil: not counted
	Logger   *slog.Logger
	// MinInterval is the coalescing window (0: DefaultMinInterval).
	MinInterval time.Duration
	// MaxRetries bounds the retries of one push after 429, 5xx or a network error.
	MaxRetries int
	// Workers bounds concurrent sends (0: DefaultWorkers).
	Workers int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Bridge coalesces deposits into pushes and sends them. Notify and Online may be called
// before Run; Run owns the workers and stops every timer when its context ends.
type Bridge struct {
	cfg Config
	log *slog.Logger
	m   *Metrics
	now func() time.Time

	// notes carries deposits from Notify to Run's dispatcher, so a deposit never waits
	// for the registry.
	notes chan note

	mu      sync.Mutex
	slots   map[string]*slot
	queue   []*slot
	wake    chan struct{}
	stopped bool
}

type note struct {
	owner, envelope []byte
	online          bool
}

// maxNotes bounds the deposits waiting for the dispatcher; beyond it they are dropped
// (counted): the pushes already due cover them.
const maxNotes = 4096

// slot is one registration's coalescing state. Guarded by Bridge.mu.
type slot struct {
	t       Target
	last    time.Time // when the latest push started
	busy    bool      // queued, sending, or waiting to retry
	pending bool      // a deposit arrived that no push has covered yet
	env     []byte    // the newest envelope not yet sent
	sending []byte    // the payload of the push in progress (kept for retries)
	attempt int
	timer   *time.Timer
	dead    bool
}

// New returns a bridge; call Run.
func New(cfg Config) (*Bridge, error) {
	if cfg.Registry == nil {
		return nil, errors.New("bridge: no registry")
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now,
		slots: map[string]*slot{}, notes: make(chan note, maxNotes), wake: make(chan struct{}, 1)}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// Run sends queued pushes with cfg.Workers workers until ctx ends, then stops every timer.
func (b *Bridge) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range b.cfg.Workers {
		wg.Go(func() { b.work(ctx) })
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case n := <-b.notes:
				if n.online {
					b.online(n.owner)
				} else {
					b.notify(n.owner, n.envelope)
				}
			}
		}
	})
	<-ctx.Done()
	wg.Wait()
	b.mu.Lock()
	b.stopped = true
	for _, s := range b.slots {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	b.queue = nil
	b.mu.Unlock()
	return nil
}

// Notify tells the bridge that envelope was just deposited for owner, who is not watching.
// It never blocks: the registry is read and pushes are sent by Run's goroutines. The bridge
// keeps owner and envelope; the caller must not change them.
func (b *Bridge) Notify(owner, envelope []byte) {
	select {
	case b.notes <- note{owner: owner, envelope: envelope}:
	default:
		b.m.dropped()
	}
}

func (b *Bridge) notify(owner, envelope []byte) {
	targets, dnd, err := b.cfg.Registry.Targets(owner)
	if err != nil {
		b.log.Error("push registrations unreadable", "err", err)
		return
	}
	if len(targets) == 0 {
		return
	}
	now := b.now()
	if now.Before(dnd) {
		b.m.suppressed(len(targets))
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	for _, t := range targets {
		if b.cfg.Senders[t.Kind] == nil {
			continue
		}
		s := b.slots[t.key()]
		if s == nil {
			s = &slot{}
			b.slots[t.key()] = s
		}
		if s.dead {
			continue
		}
		s.t = t
		s.env = envelope
		if s.busy || (!s.last.IsZero() && now.Sub(s.last) < b.cfg.MinInterval) {
			if s.pending {
				b.m.coalesced()
			}
			s.pending = true
			if !s.busy && s.timer == nil {
				b.arm(s, s.last.Add(b.cfg.MinInterval).Sub(now))
			}
			continue
		}
		b.start(s)
	}
}

// Online tells the bridge that owner opened a watch stream: pushes still waiting for their
// window are dropped (the node drains by itself). It is ordered after earlier Notify calls.
func (b *Bridge) Online(owner []byte) {
	select {
	case b.notes <- note{owner: owner, online: true}:
	default:
		b.m.dropped()
	}
}

func (b *Bridge) online(owner []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.slots {
		if s.t.Owner == string(owner) && s.pending {
			s.pending = false
			s.env = nil
		}
	}
}

// Forget drops a registration's state (it was deleted).
func (b *Bridge) Forget(owner, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := Target{Owner: owner, ID: id}.key()
	if s := b.slots[k]; s != nil {
		if s.timer != nil {
			s.timer.Stop()
		}
		s.dead = true
		delete(b.slots, k)
	}
}

// start queues s's push now, taking the newest envelope. Called under mu.
func (b *Bridge) start(s *slot) {
	s.pending = false
	s.busy = true
	s.attempt = 0
	s.sending = b.payload(s.t.Kind, s.env)
	s.env = nil
	b.enqueue(s)
}

func (b *Bridge) enqueue(s *slot) {
	b.queue = append(b.queue, s)
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// arm sets s's timer to fire after d. Called under mu.
func (b *Bridge) arm(s *slot, d time.Duration) {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timer = time.AfterFunc(max(d, 0), func() { b.fire(s) })
}

// fire ends s's window (a pending push starts; an idle slot is forgotten) or a retry wait.
func (b *Bridge) fire(s *slot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s.timer = nil
	if b.stopped || s.dead {
		return
	}
	switch {
	case s.busy: // a retry's wait ended
		b.enqueue(s)
	case s.pending:
		b.start(s)
	default:
		if b.slots[s.t.key()] == s {
			delete(b.slots, s.t.key())
		}
	}
}

// payload is what a push carries: for Web Push and UnifiedPush the envelope when it fits,
// else a wake-up; for APNs and FCM nothing.
func (b *Bridge) payload(kind string, env []byte) []byte {
	switch kind {
	case KindWebPush, KindUnifiedPush:
		return Payload(env)
	}
	return nil
}

func (b *Bridge) work(ctx context.Context) {
	for {
		b.mu.Lock()
		var s *slot
		if len(b.queue) > 0 {
			s = b.queue[0]
			b.queue = b.queue[1:]
			if len(b.queue) > 0 {
				select {
				case b.wake <- struct{}{}:
				default:
				}
			}
		}
		var t Target
		var payload []byte
		if s != nil {
			if s.attempt == 0 {
				s.last = b.now()
			}
			t, payload = s.t, s.sending
		}
		b.mu.Unlock()
		if s == nil {
			select {
			case <-ctx.Done():
				return
			case <-b.wake:
			}
			continue
		}
		b.send(ctx, s, t, payload)
		if ctx.Err() != nil {
			return
		}
	}
}

// send makes one attempt and decides what follows.
func (b *Bridge) send(ctx context.Context, s *slot, t Target, payload []byte) {
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	err := b.cfg.Senders[t.Kind].Send(sctx, t, payload)
	cancel()
	if ctx.Err() != nil {
		return
	}
	var pe *ProviderError
	errors.As(err, &pe)
	b.mu.Lock()
	dead := b.settle(s, t, payload, err, pe)
	b.mu.Unlock()
	if dead {
		b.log.Info("push registration dead", "kind", t.Kind, "status", pe.Status, "reason", pe.Reason)
		b.cfg.Registry.MarkDead(t.Owner, t.ID, fmt.Sprintf("%d %s", pe.Status, pe.Reason))
		// The registry no longer lists it: its slot can go.
		b.mu.Lock()
		if b.slots[t.key()] == s {
			delete(b.slots, t.key())
		}
		b.mu.Unlock()
	}
}

// settle records an attempt's outcome and schedules what follows; it reports whether the
// registration died. Called under mu.
func (b *Bridge) settle(s *slot, t Target, payload []byte, err error, pe *ProviderError) (dead bool) {
	switch {
	case err == nil:
		b.m.sent(t.Kind)
		b.done(s)
	case pe != nil && pe.Dead:
		b.m.failed(t.Kind, "dead")
		b.m.deadRegistration(t.Kind)
		s.dead, s.busy, s.pending, s.env, s.sending = true, false, false, nil, nil
		return true
	case pe != nil && pe.TooLarge && IsEnvelope(payload):
		b.m.failed(t.Kind, "too_large")
		s.sending = Payload(nil) // the same wake-up, without the envelope
		b.enqueue(s)
	case (pe == nil || pe.Retry) && s.attempt < b.cfg.MaxRetries:
		reason := "network"
		var wait time.Duration
		if pe != nil {
			reason, wait = fmt.Sprint(pe.Status), pe.RetryAfter
		}
		b.m.failed(t.Kind, "retry_"+reason)
		if wait <= 0 {
			wait = time.Second << s.attempt
		}
		s.attempt++
		b.arm(s, min(wait, maxBackoff))
	default:
		reason := "error"
		if pe != nil {
			reason = fmt.Sprint(pe.Status)
		}
		b.m.failed(t.Kind, reason)
		b.log.Warn("push failed", "kind", t.Kind, "err", err)
		b.done(s)
	}
	return false
}

// done ends s's push: the window runs from its start; a deposit that came meanwhile is
// sent when it ends. Called under mu.
func (b *Bridge) done(s *slot) {
	s.busy = false
	s.sending = nil
	b.arm(s, s.last.Add(b.cfg.MinInterval).Sub(b.now()))
}
