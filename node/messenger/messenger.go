package messenger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/crypto/safetynum"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// Config configures a Messenger.
type Config struct {
	Store    *store.Store
	Events   *eventlog.Log
	Identity *identity.Identity
	Logger   *slog.Logger
	// Profile returns the user's current display name (sent on cards).
	Profile func() string
	// Relays are the home relays (full multiaddrs), listed in invites and cards.
	Relays []string
	// RelayLink reaches contacts' relays (mailbox deposits, prekey bundles); nil means
	// direct delivery only.
	RelayLink RelayLink
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Groups and Presence tune groups (node/groups) and presence and typing (presence.go).
	Groups   GroupOptions
	Presence PresenceOptions
	// MutedUntil reads a conversation's mute in tx (nil: not muted) for the Conversation
	// objects (mute.go); nil means no conversation is ever muted.
	MutedUntil func(tx *store.Tx, convID string) (*int64, error)
}

// Messenger is the messaging engine. Create it with New, then Run it with a libp2p host.
type Messenger struct {
	cfg   Config
	st    *store.Store
	ev    *eventlog.Log
	id    *identity.Identity
	uid   string
	log   *slog.Logger
	clock *hlc.Clock
	now   func() time.Time

	mu   sync.Mutex
	host host.Host
	ctx  context.Context // Run's context, for the goroutines it owns
	ob   *outbox
	wg   sync.WaitGroup // inbound handlers
	// stopping is set (under mu) before wg.Wait: a handler adds itself to wg only under mu
	// while it is false, so every Add happens before the Wait.
	stopping bool

	subMu sync.Mutex
	subs  map[chan []byte]struct{} // ephemeral frames for UIs

	ratchets sessions.Cache // parsed ratchet states (node/sessions)
	pk       prekeyServer   // prekey protocol budgets and keys-free bundle (prekeys.go)

	groups *groups.Service // the group engine (node/groups; group.go)
	gs     *groupService   // shim_groups.go
	live   *liveService    // presence and typing (presence.go)

	search searchIndex // history search index (searchindex.go)
}

// New prepares a Messenger: it creates the prekey store on first use and restores the clock.
func New(ctx context.Context, cfg Config) (*Messenger, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Profile == nil {
		cfg.Profile = func() string { return "" }
	}
	m := &Messenger{
		cfg: cfg, st: cfg.Store, ev: cfg.Events, id: cfg.Identity, log: cfg.Logger, now: cfg.Now,
		uid:  string(cfg.Identity.UserID()),
		subs: map[chan []byte]struct{}{},
	}
	m.cfg.Presence.defaults()
	m.live = newLiveService(m, m.cfg.Presence)
	m.clock = hlc.New(cfg.Now)
	gs, err := m.newGroups()
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	m.groups, m.gs = gs, &groupService{gs}
	m.cfg.Groups = gs.Options()
	err = m.st.Update(ctx, func(tx *store.Tx) error {
		var last string
		if b, err := tx.Get(kClock); err == nil {
			last = string(b)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if last != "" {
			if ts, err := hlc.Parse(last); err == nil {
				m.clock.Restore(ts)
			}
		}
		ps, err := sessions.LoadPrekeys(tx, m.id, m.now())
		if err != nil {
			return err
		}
		now := m.now()
		changed := false
		if ps.NeedsRotation(now) {
			if err := ps.Rotate(m.id, now); err != nil {
				return err
			}
			changed = true
		}
		if opk, pq, err := ps.Refill(m.id, now); err != nil {
			return err
		} else if len(opk)+len(pq) > 0 {
			changed = true
		}
		if changed {
			return sessions.SavePrekeys(tx, ps)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	return m, nil
}

// Run serves the messaging protocols on h and delivers the outbox until ctx ends.
func (m *Messenger) Run(ctx context.Context, h host.Host) error {
	m.mu.Lock()
	m.host, m.ctx = h, ctx
	m.ob = newOutbox(m)
	m.mu.Unlock()

	h.SetStreamHandler(protocol.ID(wire.MessageProtocol), m.handleMessages)
	h.SetStreamHandler(protocol.ID(wire.PrekeyProtocol), m.handlePrekeys)
	notifee := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		m.ob.peerConnected(c.RemotePeer())
	}}
	h.Network().Notify(notifee)

	// Restart delivery of everything left in the outbox.
	var pending []string
	err := m.st.View(func(tx *store.Tx) error {
		last := ""
		return tx.Iterate(store.IterOptions{Prefix: []byte("ob/"), KeysOnly: true}, func(k, _ []byte) (bool, error) {
			rest := string(k[3:])
			if len(rest) > 9 {
				cid := rest[:len(rest)-9]
				if cid != last {
					pending = append(pending, cid)
					last = cid
				}
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	for _, cid := range pending {
		m.ob.kick(cid)
	}
	if err := m.groups.Start(ctx, h); err != nil {
		return err
	}
	m.live.start(ctx, h)
	depositorDone := make(chan struct{})
	go func() {
		defer close(depositorDone)
		m.groups.RunDeposits(ctx)
	}()

	<-ctx.Done()
	<-depositorDone
	m.live.wait()
	m.groups.Wait()
	h.Network().StopNotify(notifee)
	h.RemoveStreamHandler(protocol.ID(wire.MessageProtocol))
	h.RemoveStreamHandler(protocol.ID(wire.PrekeyProtocol))
	m.ob.wait()
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Messenger) hostOrNil() host.Host {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.host
}

// OutboxLen counts the contents waiting for delivery (GET /v1/status).
func (m *Messenger) OutboxLen() int {
	n := 0
	_ = m.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte("ob/"), KeysOnly: true}, func(_, _ []byte) (bool, error) {
			n++
			return true, nil
		})
	})
	return n
}

// Subscribe returns a channel of ephemeral socket frames (typing, presence) and a cancel.
//
// A new subscriber first gets a presence frame for each contact online now, so a UI that
// connects (or reloads) after a contact came online does not show them offline until the
// next change.
func (m *Messenger) Subscribe() (<-chan []byte, func()) {
	online := m.live.onlineFrames()
	ch := make(chan []byte, 64+len(online))
	for _, f := range online {
		ch <- f
	}
	m.subMu.Lock()
	m.subs[ch] = struct{}{}
	m.subMu.Unlock()
	return ch, func() {
		m.subMu.Lock()
		delete(m.subs, ch)
		m.subMu.Unlock()
	}
}

// safetyNumber is the safety number between us and a contact's identity.
func (m *Messenger) safetyNumber(c *contactRec) string {
	pub, err := identity.ParsePublic(c.Identity)
	if err != nil {
		return ""
	}
	me := m.id.Public()
	n, err := safetynum.New([]byte(m.uid), me.SigningKey(), []byte(pub.UserID()), pub.SigningKey())
	if err != nil {
		return ""
	}
	return n.String()
}

func (m *Messenger) apiContact(c *contactRec) api.Contact {
	return api.Contact{
		ID: c.ID, UserID: c.UserID, Name: c.Name, Verified: c.Verified,
		SafetyNumber: m.safetyNumber(c), ConversationID: c.ConvID, Blocked: c.Blocked,
		Request: c.Request, IdentityChanged: c.Changed, LastSeen: m.live.lastSeen(c.ID),
	}
}

// load reads the record at key, or an api not_found error naming what and id.
func load[T any](tx *store.Tx, key []byte, what, id string) (*T, error) {
	var v T
	ok, err := getJSON(tx, key, &v)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, api.Errorf(api.ErrNotFound, "no %s %q", what, id)
	}
	return &v, nil
}

func loadContact(tx *store.Tx, id string) (*contactRec, error) {
	return load[contactRec](tx, kContact(id), "contact", id)
}

func loadConv(tx *store.Tx, id string) (*convRec, error) {
	return load[convRec](tx, kConv(id), "conversation", id)
}

func loadMsg(tx *store.Tx, id string) (*msgRec, error) {
	return load[msgRec](tx, kMsg(id), "message", id)
}

// peerOf parses a contact's peer id.
func peerOf(c *contactRec) (peer.ID, error) { return peer.Decode(c.PeerID) }

func (m *Messenger) nowMS() int64 { return m.now().UnixMilli() }
