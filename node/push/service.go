package push

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/relay/mailboxclient"
	"github.com/petrel-chat/petrel/relay/relaywire"
)

// DefaultPoll is how often the relays' states are refreshed without a change.
const DefaultPoll = time.Minute

// Config configures a Service.
type Config struct {
	Store    *store.Store
	Identity *identity.Identity
	// Relays are the home relays (multiaddrs with /p2p/), as the node was given them.
	Relays []string
	Logger *slog.Logger
	Now    func() time.Time
	// Poll is how often states are refreshed (0: DefaultPoll).
	Poll time.Duration
}

// Service holds the node's push registrations and keeps the home relays' bridges in step.
type Service struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	kick chan struct{}

	mu      sync.Mutex
	dndSent map[string]int64 // relay → the do-not-disturb value it holds (absent: unknown)
}

// New returns a service; Run hands registrations to the relays.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	return &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, kick: make(chan struct{}, 1), dndSent: map[string]int64{}}
}

func (s *Service) changed() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Create stores a registration (201) or returns the existing one for the same endpoint or
// token (created false).
func (s *Service) Create(ctx context.Context, req api.PushRegistrationRequest) (api.PushRegistration, bool, error) {
	r, err := newRecord(req)
	if err != nil {
		return api.PushRegistration{}, false, err
	}
	r.Created = s.now().UnixMilli()
	for _, rl := range s.cfg.Relays {
		r.Relays[rl] = &relayState{State: StatePending}
	}
	created := true
	err = s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		recs, err := loadRecords(tx)
		if err != nil {
			return err
		}
		live := 0
		for _, o := range recs {
			if o.Deleted {
				continue
			}
			live++
			if o.address() == r.address() {
				r, created = o, false
				return nil
			}
		}
		if live >= MaxRegistrations {
			return api.Errorf(api.ErrConflict, "at most %d push registrations; delete one first", MaxRegistrations)
		}
		created = true
		return putRecord(tx, r)
	})
	if err != nil {
		return api.PushRegistration{}, false, err
	}
	if created {
		s.changed()
	}
	return r.toAPI(s.cfg.Relays), created, nil
}

// List returns the registrations, oldest first.
func (s *Service) List(ctx context.Context) ([]api.PushRegistration, error) {
	out := []api.PushRegistration{}
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		recs, err := loadRecords(tx)
		for _, r := range recs {
			if !r.Deleted {
				out = append(out, r.toAPI(s.cfg.Relays))
			}
		}
		return err
	})
	return out, err
}

// Delete removes a registration; the relays withdraw it on the next sync.
func (s *Service) Delete(ctx context.Context, id string) error {
	notFound := api.Errorf(api.ErrNotFound, "no such push registration")
	if len(id) != 2*relaywire.PushRegistrationIDSize {
		return notFound
	}
	err := s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		v, err := tx.Get(recordKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return notFound
		}
		if err != nil {
			return err
		}
		var r record
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("push: registration record: %w", err)
		}
		if r.Deleted {
			return notFound
		}
		r.Deleted, r.Priv = true, nil
		if len(r.Relays) == 0 {
			return tx.Delete(recordKey(id))
		}
		return putRecord(tx, &r)
	})
	if err == nil {
		s.changed()
	}
	return err
}

// DND returns the do-not-disturb time (nil: none).
func (s *Service) DND() (*int64, error) {
	var out *int64
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		out, err = DNDIn(tx)
		return err
	})
	return out, err
}

// DNDIn reads the do-not-disturb time in tx (nil: none).
func DNDIn(tx *store.Tx) (*int64, error) {
	v, err := tx.Get(keyDND)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(v) != 8 {
		return nil, errors.New("push: do-not-disturb record malformed")
	}
	ms := int64(binary.BigEndian.Uint64(v))
	return &ms, nil
}

// SetDNDIn sets (nil: clears) the do-not-disturb time in tx; the caller calls Changed once
// tx commits (a setting synced from another device of the account).
func SetDNDIn(tx *store.Tx, until *int64) error {
	if until == nil {
		return tx.Delete(keyDND)
	}
	return tx.Set(keyDND, binary.BigEndian.AppendUint64(nil, uint64(*until)))
}

// Changed brings the relays in step with settings changed in a transaction of the caller.
func (s *Service) Changed() { s.changed() }

// SetDND sets (or with nil clears) the do-not-disturb time; the relays hold pushes back
// until then.
func (s *Service) SetDND(ctx context.Context, until *int64) error {
	if until != nil && *until <= 0 {
		return api.Errorf(api.ErrBadRequest, "push.dnd_until must be a positive Unix millisecond time or null")
	}
	err := s.cfg.Store.Update(ctx, func(tx *store.Tx) error { return SetDNDIn(tx, until) })
	if err == nil {
		s.changed()
	}
	return err
}

// Run keeps the relays in step until ctx ends: now, after every change, every Poll, and
// sooner (with backoff) after a relay could not be reached.
func (s *Service) Run(ctx context.Context, h host.Host) error {
	if len(s.cfg.Relays) == 0 {
		<-ctx.Done()
		return nil
	}
	retry := time.Second
	for {
		wait := s.cfg.Poll
		if !s.syncAll(ctx, h) {
			wait = min(retry, s.cfg.Poll)
			retry *= 2
		} else {
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// syncAll syncs every relay once; it reports whether all of them answered.
func (s *Service) syncAll(ctx context.Context, h host.Host) bool {
	var recs []*record
	var dnd *int64
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		recs, err = loadRecords(tx)
		return err
	})
	if err == nil {
		dnd, err = s.DND()
	}
	if err != nil {
		s.log.Error("push registrations unreadable", "err", err)
		return false
	}
	ok := true
	results := map[string]relayResult{}
	for _, rl := range s.cfg.Relays {
		res, err := s.syncRelay(ctx, h, rl, recs, dnd)
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, mailboxclient.ErrNotRegistered):
				// The home relay session registers the mailbox first; retried shortly.
				s.log.Debug("push sync waits for the mailbox registration", "relay", rl)
			default:
				s.log.Warn("push sync with a home relay failed", "relay", rl, "err", err)
			}
			ok = false
			continue
		}
		results[rl] = res
		if res.again {
			ok = false
		}
	}
	if len(results) == 0 {
		return ok
	}
	err = s.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		cur, err := loadRecords(tx)
		if err != nil {
			return err
		}
		for _, r := range cur {
			dirty := false
			for rl, res := range results {
				if r.Deleted {
					if res.withdrawn[r.ID] {
						delete(r.Relays, rl)
						dirty = true
					}
					continue
				}
				if st, ok := res.states[r.ID]; ok {
					r.Relays[rl] = st
					dirty = true
				}
			}
			switch {
			case r.Deleted && len(r.Relays) == 0:
				if err := tx.Delete(recordKey(r.ID)); err != nil {
					return err
				}
			case dirty:
				if err := putRecord(tx, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("storing push states failed", "err", err)
		return false
	}
	return ok
}

// relayResult is what one relay said.
type relayResult struct {
	states    map[string]*relayState // by registration id
	withdrawn map[string]bool        // deleted registrations the relay no longer holds
	again     bool                   // something is left to hand over: sync again soon
}

func (s *Service) syncRelay(ctx context.Context, h host.Host, relay string, recs []*record, dnd *int64) (relayResult, error) {
	res := relayResult{states: map[string]*relayState{}, withdrawn: map[string]bool{}}
	if len(recs) == 0 && dnd == nil {
		// Nothing to hand over and no do-not-disturb: the relay need not hear from us (a
		// later registration sends the do-not-disturb state with it).
		return res, nil
	}
	ai, err := peer.AddrInfoFromString(relay)
	if err != nil {
		return res, fmt.Errorf("relay address: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	if err := h.Connect(ctx, *ai); err != nil {
		return res, fmt.Errorf("connect: %w", err)
	}
	var req mailboxclient.PushSync
	var sent []*record
	for _, r := range recs {
		st := r.Relays[relay]
		switch {
		case r.Deleted && st != nil:
			req.Unregister = append(req.Unregister, r.wireID())
		case r.Deleted:
		case st == nil || !st.Held && st.State != StateRefused:
			req.Register = append(req.Register, mailboxclient.PushRegistration{ID: r.wireID(), Reg: r.wire()})
			sent = append(sent, r)
		}
	}
	want := int64(0)
	if dnd != nil {
		want = *dnd
	}
	s.mu.Lock()
	have, known := s.dndSent[relay]
	s.mu.Unlock()
	if !known || have != want {
		req.DND = &want
	}
	out, err := mailboxclient.SyncPush(ctx, h, ai.ID, s.cfg.Identity, req)
	if errors.Is(err, mailboxclient.ErrNoBridge) {
		for _, r := range recs {
			if r.Deleted {
				res.withdrawn[r.ID] = true
			} else {
				res.states[r.ID] = &relayState{State: StateNoBridge, Error: "this relay runs no push bridge"}
			}
		}
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if req.DND != nil {
		s.mu.Lock()
		s.dndSent[relay] = want
		s.mu.Unlock()
	}
	for i, r := range sent {
		var refused *mailboxclient.RefusedError
		if e := out.Registered[i]; errors.As(e, &refused) {
			res.states[r.ID] = &relayState{State: StateRefused, Error: refused.Message}
		}
	}
	held := map[string]relaywire.PushState{}
	for _, st := range out.States {
		held[fmt.Sprintf("%x", st.ID)] = st
	}
	for _, r := range recs {
		st, ok := held[r.ID]
		switch {
		case r.Deleted:
			if !ok {
				res.withdrawn[r.ID] = true
			}
		case ok && st.Dead:
			res.states[r.ID] = &relayState{State: StateDead, Error: st.Reason, Held: true}
		case ok:
			res.states[r.ID] = &relayState{State: StateActive, Held: true}
		case res.states[r.ID] == nil:
			// Not held (lost, or refused above): hand it over again next time.
			res.states[r.ID] = &relayState{State: StatePending}
			res.again = true
		}
	}
	return res, nil
}
