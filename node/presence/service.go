package presence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/node/wire"
)

// Options tune presence and typing. Zero values take the defaults.
type Options struct {
	// Heartbeat is how often contacts are told we are online. Default 30 s.
	Heartbeat time.Duration
	// Timeout turns a contact offline when no heartbeat came for this long. Default 2.5
	// Heartbeats (75 s): one lost beat does not turn a contact offline.
	Timeout time.Duration
	// TypingTimeout ends a contact's typing indicator that was not refreshed. Default 6 s.
	TypingTimeout time.Duration
	// TypingRefresh is the least time between two "start" signals sent for one
	// conversation (the UI may send one per keystroke). Default 3 s.
	TypingRefresh time.Duration
}

func (o *Options) defaults() {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = o.Heartbeat * 5 / 2
	}
	if o.TypingTimeout <= 0 {
		o.TypingTimeout = 6 * time.Second
	}
	if o.TypingRefresh <= 0 {
		o.TypingRefresh = min(3*time.Second, o.TypingTimeout/2)
	}
}

// Live signal limits.
const (
	liveTimeout  = 3 * time.Second // one signal's write (with the stream's opening)
	dialEvery    = 3               // heartbeats between dials of a contact we are not connected to
	liveParallel = 8               // concurrent live stream openings (each may dial)
)

// keyLastSeen prefixes the last seen records: pr/<contact id> holds a contact's last seen
// time in Unix ms, in decimal.
const keyLastSeen = "pr/"

func kLastSeen(cid string) []byte { return []byte(keyLastSeen + cid) }

// Config is what a Service needs; Book, AddAddrs and Publish are filled in by the façade.
type Config struct {
	Store *store.Store
	// Events are the node's events; contact events among them greet a new contact at once.
	// nil means none.
	Events *eventlog.Log
	Log    *slog.Logger
	Options
	// Book answers what presence asks of the address book and the groups.
	Book Book
	// AddAddrs tells the host where a contact's peer listens (before a dial).
	AddAddrs func(pid peer.ID, addrs []string)
	// Publish hands an ephemeral socket frame to the subscribed UIs (Subscribers.Publish).
	Publish func(frame []byte)
	// Hidden reports, at Start, whether our setting is presence: nobody.
	Hidden func() bool
}

// Service carries presence heartbeats and typing signals over long-lived direct streams
// to contacts (LiveProtocol, stream.go). The Noise channel authenticates the peer and the
// receiver accepts signals only from its contacts' peer ids, so only contacts learn them.
// Nothing here is stored but last seen times. Create it with New, Start it with the host,
// and Wait for it once Start's context has ended.
type Service struct {
	st       *store.Store
	ev       *eventlog.Log
	log      *slog.Logger
	opts     Options
	book     Book
	addAddrs func(pid peer.ID, addrs []string)
	publish  func(frame []byte)
	isHidden func() bool

	mu      sync.Mutex
	h       host.Host
	ctx     context.Context
	hidden  bool                  // our setting is presence: nobody
	online  map[string]time.Time  // contact id → last heartbeat
	seen    map[string]int64      // contact id → last seen (ms)
	sentTyp map[string]typingMark // conversation → last signal sent
	typing  map[[2]string]time.Time
	beats   int
	// greeted: when a heartbeat last went to a peer outside the beat (on a new connection,
	// or answering a contact's first heartbeat); pruned after a Heartbeat.
	greeted map[peer.ID]time.Time
	// dialed: contacts' peers a heartbeat has already been dialed to in this run; a new
	// contact is dialed at the next beat instead of waiting for the next dial beat.
	dialed  map[peer.ID]bool
	out     map[peer.ID]*liveOut        // outgoing live streams and their queues
	in      map[network.Stream]struct{} // incoming live streams being read
	opening chan struct{}               // bounds concurrent stream openings
	closed  bool                        // set by Wait: no new goroutines
	wg      sync.WaitGroup
	notifee *network.NotifyBundle
}

// New prepares a Service; zero Options take their defaults.
func New(cfg Config) *Service {
	cfg.Options.defaults()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.AddAddrs == nil {
		cfg.AddAddrs = func(peer.ID, []string) {}
	}
	if cfg.Publish == nil {
		cfg.Publish = func([]byte) {}
	}
	if cfg.Hidden == nil {
		cfg.Hidden = func() bool { return false }
	}
	return &Service{st: cfg.Store, ev: cfg.Events, log: cfg.Log, opts: cfg.Options, book: cfg.Book,
		addAddrs: cfg.AddAddrs, publish: cfg.Publish, isHidden: cfg.Hidden,
		online: map[string]time.Time{}, seen: map[string]int64{},
		sentTyp: map[string]typingMark{}, typing: map[[2]string]time.Time{},
		greeted: map[peer.ID]time.Time{}, dialed: map[peer.ID]bool{},
		out: map[peer.ID]*liveOut{}, in: map[network.Stream]struct{}{}, opening: make(chan struct{}, liveParallel)}
}

// Start serves the live protocol on h and runs the beat until ctx ends.
func (l *Service) Start(ctx context.Context, h host.Host) {
	hidden := l.isHidden()
	seen := map[string]int64{}
	_ = l.st.View(func(tx *store.Tx) error {
		return tx.Iterate(store.IterOptions{Prefix: []byte(keyLastSeen)}, func(k, v []byte) (bool, error) {
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				seen[string(k[len(keyLastSeen):])] = n
			}
			return true, nil
		})
	})
	l.mu.Lock()
	l.h, l.ctx, l.hidden, l.seen = h, ctx, hidden, seen
	l.mu.Unlock()
	h.SetStreamHandler(protocol.ID(wire.LiveProtocol), l.handle)
	// A contact we connect to (for a message, a group, anything) hears from us at once
	// instead of at the next beat: presence between two running contacts is established
	// as soon as they meet, not up to a dial period later.
	l.notifee = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		l.greet(c.RemotePeer(), false)
	}}
	h.Network().Notify(l.notifee)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.loop(ctx)
	}()
}

// Wait stops serving and waits for the service's goroutines, once Start's context has
// ended; it saves when the contacts online then were last seen.
func (l *Service) Wait() {
	l.mu.Lock()
	h := l.h
	l.closed = true
	l.mu.Unlock()
	if h != nil {
		h.RemoveStreamHandler(protocol.ID(wire.LiveProtocol))
		if l.notifee != nil {
			h.Network().StopNotify(l.notifee)
		}
	}
	l.closeStreams() // incoming readers and idle outgoing streams
	l.wg.Wait()
	l.closeStreams() // those the drains left
	// Remember when contacts online at shutdown were last seen.
	l.mu.Lock()
	online := make([]string, 0, len(l.online))
	for cid := range l.online {
		online = append(online, cid)
	}
	l.mu.Unlock()
	for _, cid := range online {
		l.persist(context.Background(), cid)
	}
}

// LastSeen is contact cid's last seen time (Unix ms) for the API: nil when unknown or
// when our own setting is presence: nobody.
func (l *Service) LastSeen(cid string) *int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hidden {
		return nil
	}
	if t, ok := l.seen[cid]; ok {
		return &t
	}
	return nil
}

// SetHidden follows the presence setting (hidden: presence: nobody); turning presence off
// tells connected contacts to forget our last seen time.
func (l *Service) SetHidden(hidden bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.hidden
	l.hidden = hidden
	if hidden {
		clear(l.online) // we see nobody's presence either
		hb, _ := wire.MarshalLive(&wire.Live{Type: wire.LiveHeartbeat})
		for _, o := range l.out { // heartbeats queued before the change go no further
			o.queue = slices.DeleteFunc(o.queue, func(f []byte) bool { return bytes.Equal(f, hb) })
		}
	}
	ctx := l.ctx
	if hidden && !was && ctx != nil && !l.closed {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.sendAll(&wire.Live{Type: wire.LiveHidden}, false)
		}()
	}
}

func (l *Service) loop(ctx context.Context) {
	check := min(l.opts.Heartbeat, l.opts.Timeout/4, l.opts.TypingTimeout/4)
	tick := time.NewTicker(max(check, 20*time.Millisecond))
	defer tick.Stop()
	// Contact events: a contact we now share presence with (added, accepted, unblocked)
	// hears from us at once, not at the next beat (issue 11: contacts made and gone
	// within one beat never saw each other).
	var changed <-chan struct{}
	var cursor uint64
	if ev := l.ev; ev != nil {
		var cancel func()
		changed, cancel = ev.Subscribe()
		defer cancel()
		cursor = ev.Last()
	}
	next := time.Now()
	for {
		if now := time.Now(); !now.Before(next) {
			next = now.Add(l.opts.Heartbeat)
			l.mu.Lock()
			hidden := l.hidden
			l.beats++
			dial := l.beats%dialEvery == 1
			l.mu.Unlock()
			if !hidden {
				l.sendAll(&wire.Live{Type: wire.LiveHeartbeat}, dial)
			}
		}
		l.expire(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
			cursor = l.contactEvents(cursor)
		}
	}
}

// contactEvents greets the contacts of the contact events after cursor who share presence
// with us and are not online here, and returns the new cursor.
func (l *Service) contactEvents(cursor uint64) uint64 {
	greet := map[string]bool{}
	for {
		evs, more, err := l.ev.Since(cursor, 0)
		if err != nil {
			l.log.Debug("presence: reading contact events", "err", err)
			break
		}
		for _, ev := range evs {
			cursor = ev.Seq
			if ev.Kind != api.KindContact {
				continue
			}
			var c struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(ev.Payload, &c) == nil && c.ID != "" {
				greet[c.ID] = true
			}
		}
		if !more {
			break
		}
	}
	for cid := range greet {
		l.mu.Lock()
		_, online := l.online[cid]
		l.mu.Unlock()
		if online {
			continue
		}
		if c, ok := l.book.Contact(cid); ok && c.sharesPresence() && c.Peer != "" {
			l.addAddrs(c.Peer, c.Addrs)
			l.greet(c.Peer, false)
		}
	}
	return cursor
}

// expire turns silent contacts offline and ends stale typing indicators.
func (l *Service) expire(ctx context.Context) {
	now := time.Now()
	var gone []string
	var stopped [][2]string
	l.mu.Lock()
	for cid, t := range l.online {
		if now.Sub(t) > l.opts.Timeout {
			delete(l.online, cid)
			gone = append(gone, cid)
		}
	}
	for k, t := range l.typing {
		if now.After(t) {
			delete(l.typing, k)
			stopped = append(stopped, k)
		}
	}
	for pid, t := range l.greeted {
		if now.Sub(t) > l.opts.Heartbeat {
			delete(l.greeted, pid)
		}
	}
	l.mu.Unlock()
	l.idleStreams(now)
	for _, cid := range gone {
		l.persist(ctx, cid)
		l.emitPresence(cid, api.PresenceOffline)
	}
	for _, k := range stopped {
		l.publish(typingFrame(k[0], k[1], api.TypingStop))
	}
}

func (l *Service) persist(ctx context.Context, cid string) {
	l.mu.Lock()
	t, ok := l.seen[cid]
	l.mu.Unlock()
	if !ok {
		return
	}
	err := l.st.Update(ctx, func(tx *store.Tx) error {
		return tx.Set(kLastSeen(cid), strconv.AppendInt(nil, t, 10))
	})
	if err != nil && ctx.Err() == nil {
		l.log.Warn("saving last seen", "err", err)
	}
}

func (l *Service) emitPresence(cid, state string) {
	l.mu.Lock()
	hidden := l.hidden
	l.mu.Unlock()
	if hidden {
		return
	}
	if f := l.presenceFrame(cid, state); f != nil {
		l.publish(f)
	}
}

// presenceFrame is the socket frame saying contact cid is in state, or nil for a contact
// that is gone.
func (l *Service) presenceFrame(cid, state string) []byte {
	c, ok := l.book.Contact(cid)
	if !ok || c.UserID == "" {
		return nil
	}
	return mustFrame(api.NewPresenceFrame(c.UserID, state, l.LastSeen(cid)))
}

// OnlineFrames are presence frames for the contacts online now (none with presence off):
// what a new subscriber is told first.
func (l *Service) OnlineFrames() [][]byte {
	l.mu.Lock()
	var cids []string
	if !l.hidden {
		for cid := range l.online {
			cids = append(cids, cid)
		}
	}
	l.mu.Unlock()
	var out [][]byte
	for _, cid := range cids {
		if f := l.presenceFrame(cid, api.PresenceOnline); f != nil {
			out = append(out, f)
		}
	}
	return out
}

func typingFrame(conv, uid, state string) []byte {
	return mustFrame(api.NewTypingFrame(conv, uid, state))
}

func mustFrame(v any) []byte {
	b, _ := json.Marshal(v) // fixed shapes of strings and numbers
	return b
}

// presenceTarget is a contact who may learn our presence.
type presenceTarget struct {
	cid   string
	pid   peer.ID
	addrs []string
}

// presenceTargets are the contacts who may learn our presence.
func (l *Service) presenceTargets() []presenceTarget {
	var out []presenceTarget
	for _, c := range l.book.Contacts() {
		if c.sharesPresence() && c.Peer != "" {
			out = append(out, presenceTarget{c.ID, c.Peer, c.Addrs})
		}
	}
	return out
}

// sendAll sends sig to contacts: those connected now and those we see online (a connection
// trimmed or replaced must not turn a running contact offline at the other end until the
// next dial beat), those never dialed in this run (new contacts), and all of them when
// dial. Unconnected ones are dialed at their known addresses.
func (l *Service) sendAll(sig *wire.Live, dial bool) {
	h := l.h
	all := l.presenceTargets()
	connected := make([]bool, len(all))
	for i, t := range all {
		connected[i] = h.Network().Connectedness(t.pid) == network.Connected
	}
	var targets []peer.ID
	var dialing []presenceTarget
	l.mu.Lock()
	for i, t := range all {
		_, online := l.online[t.cid]
		if !dial && !connected[i] && !online && l.dialed[t.pid] {
			continue
		}
		if !connected[i] {
			l.dialed[t.pid] = true
			dialing = append(dialing, t)
		}
		targets = append(targets, t.pid)
	}
	l.mu.Unlock()
	for _, t := range dialing {
		l.addAddrs(t.pid, t.addrs)
	}
	l.sendTo(targets, sig)
}

// maxGreeting bounds the contacts greeted within one Heartbeat (a burst of connections).
const maxGreeting = 256

// greet sends pid a heartbeat now, outside the beat, if it is a contact who shares
// presence with us: on a new connection to it and when it becomes such a contact (if not
// greeted within half a Heartbeat), and in answer to its first heartbeat (answer), so that
// both ends see each other at once. An answer goes only when the contact turns online here,
// so two nodes answer each other at most once. It is called from the network's connection
// notifications, so it only reads the store and starts the send.
func (l *Service) greet(pid peer.ID, answer bool) {
	c, ok := l.book.ContactAt(pid)
	if !ok || !c.sharesPresence() {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.closed || l.hidden || l.ctx == nil || !answer && now.Sub(l.greeted[pid]) < l.opts.Heartbeat/2 || len(l.greeted) >= maxGreeting {
		l.mu.Unlock()
		return
	}
	l.greeted[pid] = now
	l.mu.Unlock()
	l.sendTo([]peer.ID{pid}, &wire.Live{Type: wire.LiveHeartbeat})
}

// sendTo queues one signal for each peer's live stream; it never waits for the network.
func (l *Service) sendTo(pids []peer.ID, sig *wire.Live) {
	b, err := wire.MarshalLive(sig)
	if err != nil {
		return
	}
	for _, pid := range pids {
		l.enqueue(pid, b, sig.Type == wire.LiveHeartbeat)
	}
}

// signal handles one live signal from peer from, and reports whether the stream it came
// on may go on (it is from a contact).
func (l *Service) signal(from peer.ID, sig *wire.Live) bool {
	c, ok := l.book.ContactAt(from)
	if !ok || c.Blocked {
		return false
	}
	switch sig.Type {
	case wire.LiveHeartbeat:
		l.heartbeat(c, from)
	case wire.LiveHidden:
		l.mu.Lock()
		_, was := l.online[c.ID]
		delete(l.online, c.ID)
		delete(l.seen, c.ID)
		ctx := l.ctx
		l.mu.Unlock()
		err := l.st.Update(ctx, func(tx *store.Tx) error { return tx.Delete(kLastSeen(c.ID)) })
		if err != nil && !errors.Is(err, context.Canceled) {
			l.log.Warn("forgetting last seen", "err", err)
		}
		if was {
			l.emitPresence(c.ID, api.PresenceOffline)
		}
	case wire.LiveTyping:
		if !l.mayType(c, sig.Conv) {
			return true
		}
		k := [2]string{sig.Conv, c.UserID}
		l.mu.Lock()
		if sig.State == api.TypingStart {
			l.typing[k] = time.Now().Add(l.opts.TypingTimeout)
		} else {
			delete(l.typing, k)
		}
		l.mu.Unlock()
		l.publish(typingFrame(sig.Conv, c.UserID, sig.State))
	}
	return true
}

func (l *Service) heartbeat(c Contact, from peer.ID) {
	if !c.sharesPresence() {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if l.hidden { // presence: nobody — we see nobody's either
		l.mu.Unlock()
		return
	}
	_, was := l.online[c.ID]
	l.online[c.ID] = now
	l.seen[c.ID] = now.UnixMilli()
	l.mu.Unlock()
	if !was {
		l.emitPresence(c.ID, api.PresenceOnline)
		l.greet(from, true) // they may not see us yet either
	}
}
