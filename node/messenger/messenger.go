package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/acquaint"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/attachments"
	"github.com/petrel-chat/petrel/node/contacts"
	"github.com/petrel-chat/petrel/node/devicesync"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/expiry"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/history"
	"github.com/petrel-chat/petrel/node/inbox"
	"github.com/petrel-chat/petrel/node/media"
	outq "github.com/petrel-chat/petrel/node/outbox"
	"github.com/petrel-chat/petrel/node/presence"
	"github.com/petrel-chat/petrel/node/presencebook"
	"github.com/petrel-chat/petrel/node/sessions"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/storeformat"
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
	// Groups and Presence tune groups (node/groups) and presence and typing (node/presence).
	Groups   groups.Options
	Presence presence.Options
	// MutedUntil reads a conversation's mute in tx (nil: not muted) for the Conversation
	// objects (mute.go); nil means no conversation is ever muted.
	MutedUntil func(tx *store.Tx, convID string) (*int64, error)
	// DevicePush is the push part's settings our devices sync (node/devicesync).
	DevicePush devicesync.Push
	// Media is the node's media store (attachments, docs/API.md §6); nil means a node
	// without media (tests of other parts).
	Media *media.Store
	// Shred seals the content of disappearing messages under the keys of their expiry
	// buckets (node/shredkeys, docs/PROTOCOL.md "Disappearing messages at rest"); nil
	// stores it sealed by the store only (tests of other parts).
	Shred *shredkeys.Keyring
}

// Store key of the messenger itself (docs in doc.go).
var kClock = []byte("hlc")

// Messenger is the messaging engine. Create it with New, then Run it with a libp2p host.
type Messenger struct {
	cfg   Config
	st    *store.Store
	ev    *eventlog.Log
	id    *identity.Identity       // this device's key (the account key on the primary)
	acct  *identity.PublicIdentity // the account key (node/devicesync)
	uid   string                   // the account's user id
	dev   *devicesync.Service      // linked devices (devices.go)
	log   *slog.Logger
	clock *hlc.Clock
	now   func() time.Time

	mu   sync.Mutex
	host host.Host
	ctx  context.Context // Run's context, for the goroutines it owns
	ob   *outq.Queue
	wg   sync.WaitGroup // inbound handlers
	// stopping is set (under mu) before wg.Wait: a handler adds itself to wg only under mu
	// while it is false, so every Add happens before the Wait.
	stopping bool

	frames presence.Subscribers // ephemeral frames for UIs (node/presence)

	ratchets sessions.Cache        // parsed ratchet states (node/sessions)
	pk       sessions.PrekeyServer // the prekey protocol's responder (node/sessions)

	groups *groups.Service   // the group engine (node/groups; group.go)
	live   *presence.Service // presence and typing (node/presence; presence.go)

	search history.SearchIndex // history search index (node/history)

	rx *inbox.Hooks // the receiving batches' view of the node, with the kinds' dispatch table (inbound.go)

	att    *attachments.Service // attachments in messages: relay uploads, downloads (node/attachments)
	timers *expiry.Timers       // disappearing messages: timer changes, the expiry loop (expiry.go)
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
	var err error
	m := &Messenger{
		cfg: cfg, st: cfg.Store, ev: cfg.Events, id: cfg.Identity, log: cfg.Logger, now: cfg.Now,
		acct: cfg.Identity.Public(), uid: string(cfg.Identity.UserID()),
	}
	m.att = attachments.New(attachments.Config{
		Store: m.st, Media: cfg.Media, Events: m.ev, Identity: m.id, Relays: cfg.Relays, Logger: m.log,
		SaveMessage: func(tx *store.Tx, r *history.Item) error { return m.putMsg(tx, r, false) },
		Sealer:      m.sealer(),
	})
	m.timers = expiry.New(m.timersConfig())
	m.live = presence.New(presence.Config{
		Store: m.st, Events: m.ev, Log: m.log, Options: m.cfg.Presence, Book: presencebook.New(m.st, func() string { return m.uid }),
		AddAddrs: m.addAddrs, Publish: m.frames.Publish, Hidden: presencebook.Hidden(m.st, m.settings),
	})
	m.pk = sessions.PrekeyServer{Store: m.st, Identity: m.id, Now: m.now, Log: m.log, IsContact: sessions.AcceptedPeer}
	m.clock = hlc.New(cfg.Now)
	m.dev = devicesync.New(devicesync.Config{Store: m.st, Events: m.ev, Device: m.id, Relays: cfg.Relays, Host: m.hostOrNil,
		Ratchets: &m.ratchets, Clock: m.clock, Now: m.now, Log: m.log, Enqueue: m.enqueueWith, NewContact: m.newContact,
		APIContact: m.apiContact, EmitConv: m.emitConv, PutMsg: m.putMsg, MarkDeleted: m.markDeleted, ApplyReaction: applyReaction,
		MarkRead: func(tx *store.Tx, conv, upTo string) error { return m.markRead(tx, conv, upTo, false) }, Sealer: m.sealer(),
		Attachments: func(tx *store.Tx, msgID, from string, relays []string, raws []json.RawMessage) []api.Attachment {
			return m.att.Received(tx, msgID, from, relays, raws)
		},
		SetStatus:   func(tx *store.Tx, r *history.Item, status string) error { return m.setStatusRec(tx, r, status, "") },
		PutSettings: m.putSettings, Push: cfg.DevicePush, Timers: m.timers, Profile: cfg.Profile,
		ListChanged: func(tx *store.Tx, acct string) error { return m.groups.DevicesChangedTx(tx, acct) }})
	if m.rx, err = m.inboxHooks(); err != nil {
		return nil, err
	}
	from, err := storeformat.Upgrade(ctx, m.st)
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	} else if from != storeformat.Version() {
		m.log.Info("store format upgraded", "from", from, "to", storeformat.Version())
	}
	if err := m.st.View(m.dev.LoadAccount); err != nil { // a linked device acts for its account
		return nil, fmt.Errorf("messenger: %w", err)
	}
	m.acct, m.uid = m.dev.AccountKey(), m.dev.UserID()
	gs, err := m.newGroups()
	if err != nil {
		return nil, fmt.Errorf("messenger: %w", err)
	}
	m.groups = gs
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
		return sessions.Upkeep(tx, m.id, m.now()) // prekeys: created, rotated, refilled
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
	// The outbox's workers and the presence beat run while this device is active: a
	// revoked device delivers and announces nothing (node/devicesync's revoked signal).
	active, stopActive := m.dev.WithRevocation(ctx)
	defer stopActive()
	m.ob = outq.New(active, m.outboxConfig())
	m.mu.Unlock()

	h.SetStreamHandler(protocol.ID(wire.MessageProtocol), m.handleMessages)
	h.SetStreamHandler(protocol.ID(wire.PrekeyProtocol), m.pk.Handler(ctx))
	notifee := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		m.outboxConnected(c.RemotePeer())
	}}
	h.Network().Notify(notifee)

	// Restart delivery of everything left in the outbox.
	var pending []string
	err := m.st.View(func(tx *store.Tx) error {
		var err error
		pending, err = outq.Waiting(tx)
		return err
	})
	if err != nil {
		return err
	}
	for _, cid := range pending {
		m.ob.Kick(cid)
	}
	if err := m.groups.Start(ctx, h); err != nil {
		return err
	}
	m.live.Start(active, h)
	// A linked device tells the account's primary where it is reached (node/devicesync).
	if err := m.dev.AnnounceReach(ctx); err != nil {
		m.log.Warn("cannot tell the primary this device's addresses", "err", err)
	}
	depositorDone := make(chan struct{})
	go func() {
		defer close(depositorDone)
		m.groups.RunDeposits(ctx)
	}()
	mediaDone := make(chan struct{})
	go func() {
		defer close(mediaDone)
		m.att.Run(ctx, h)
	}()
	expiryDone := make(chan struct{})
	go func() {
		defer close(expiryDone)
		m.timers.Run(ctx) // node/expiry
	}()

	<-ctx.Done()
	<-depositorDone
	<-mediaDone
	<-expiryDone
	m.live.Wait()
	m.groups.Wait()
	h.Network().StopNotify(notifee)
	h.RemoveStreamHandler(protocol.ID(wire.MessageProtocol))
	h.RemoveStreamHandler(protocol.ID(wire.PrekeyProtocol))
	m.ob.Wait()
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
func (m *Messenger) OutboxLen() int { return outq.Count(m.st) }

// outboxConfig is what node/outbox is given of the messenger (outbox.go).
func (m *Messenger) outboxConfig() outq.Config {
	return outq.Config{
		Store: m.st, Ratchets: &m.ratchets, Contacts: outboxContacts{},
		Session: m.ensureSession, Dial: m.dialMessages, Status: m.setStatus,
		Mailbox: m.cfg.RelayLink, Identity: m.id, Logger: m.log, Now: m.now,
		Sealer: m.outSealer(),
	}
}

// FetchMedia starts the download of a received media id that is not here yet, a UI's
// first GET of a large file (attachments.Service.Fetch).
func (m *Messenger) FetchMedia(ctx context.Context, mediaID string) error {
	return m.att.Fetch(ctx, mediaID)
}

// Subscribe returns a channel of ephemeral socket frames (typing, presence) and a cancel.
//
// A new subscriber first gets a presence frame for each contact online now, so a UI that
// connects (or reloads) after a contact came online does not show them offline until the
// next change.
func (m *Messenger) Subscribe() (<-chan []byte, func()) {
	return m.frames.Subscribe(m.live.OnlineFrames())
}

// Typing carries a typing signal from a UI to the conversation's other members
// (presence.Service.Typing): ephemeral, rate-limited, ending by itself at the receivers.
func (m *Messenger) Typing(ctx context.Context, convID, state string) error {
	return m.live.Typing(ctx, convID, state)
}

func (m *Messenger) apiContact(c *sessions.Contact) api.Contact {
	return contacts.ToAPI(&c.Record, acquaint.SafetyNumber(m.acct, m.uid, c), m.live.LastSeen(c.ID))
}

func (m *Messenger) nowMS() int64 { return m.now().UnixMilli() }

// sealer is what seals disappearing content in the history: the keyring, or none.
func (m *Messenger) sealer() history.Sealer {
	if m.cfg.Shred == nil {
		return nil
	}
	return m.cfg.Shred
}

// outSealer is the outbox's sealer: the keyring, or none.
func (m *Messenger) outSealer() outq.Sealer {
	if m.cfg.Shred == nil {
		return nil
	}
	return m.cfg.Shred
}
