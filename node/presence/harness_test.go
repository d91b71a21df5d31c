package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/nodetest/wait"
	"github.com/petrel-chat/petrel/node/store"
)

// loopbackHost is a libp2p host listening on loopback, closed at the end of the test.
func loopbackHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// openStore is a real encrypted store in dir.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Create(dir, []byte("presence test passphrase"), store.Options{})
	if errors.Is(err, store.ErrExists) {
		st, err = store.Open(dir, []byte("presence test passphrase"), store.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// book is a node's address book and groups as the façade answers them: the contacts
// (keyed by id) and, for each group, its members' user ids (we are a member of each).
type book struct {
	mu       sync.Mutex
	contacts map[string]Contact
	groups   map[string][]string
	// convs maps a conversation to the peers a typing signal in it goes to.
	convs map[string][]Peer
	// listed counts the calls of Contacts: a beat lists the contacts it goes to.
	listed int
}

func (b *book) Book() Book {
	return Book{
		Contact: func(cid string) (Contact, bool) {
			b.mu.Lock()
			defer b.mu.Unlock()
			c, ok := b.contacts[cid]
			return c, ok
		},
		ContactAt: func(pid peer.ID) (Contact, bool) {
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, c := range b.contacts {
				if c.Peer == pid {
					return c, true
				}
			}
			return Contact{}, false
		},
		Contacts: func() []Contact {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.listed++
			var out []Contact
			for _, c := range b.contacts {
				out = append(out, c)
			}
			return out
		},
		InGroup: func(gid, uid string) bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, m := range b.groups[gid] {
				if m == uid {
					return true
				}
			}
			return false
		},
		Recipients: func(conv string) ([]Peer, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			ps, ok := b.convs[conv]
			if !ok {
				return nil, api.Errorf(api.ErrNotFound, "no conversation %q", conv)
			}
			return ps, nil
		},
	}
}

// liveNode is one node's presence service on a real store and a loopback host, with the
// UI frames it publishes.
type liveNode struct {
	name   string
	uid    string
	dir    string
	st     *store.Store
	h      host.Host
	book   *book
	frames *Subscribers
	live   *Service
	stop   func()
}

// startLive starts a presence service for name on a fresh store and host; configure may
// change the Config before New.
func startLive(t *testing.T, name string, opts Options, configure func(*Config)) *liveNode {
	t.Helper()
	n := &liveNode{name: name, uid: "u-" + name, dir: t.TempDir(), h: loopbackHost(t),
		book: &book{contacts: map[string]Contact{}, groups: map[string][]string{}, convs: map[string][]Peer{}}}
	n.run(t, opts, configure)
	return n
}

// run (re)starts n's service on its store; it stops when the test ends or at n.stop.
func (n *liveNode) run(t *testing.T, opts Options, configure func(*Config)) {
	t.Helper()
	n.st = openStore(t, n.dir)
	n.frames = &Subscribers{}
	cfg := Config{Store: n.st, Options: opts, Book: n.book.Book(), Publish: n.frames.Publish,
		AddAddrs: func(pid peer.ID, addrs []string) {
			for _, a := range addrs {
				if x, err := ma.NewMultiaddr(a); err == nil {
					n.h.Peerstore().AddAddr(pid, x, time.Hour)
				}
			}
		}}
	if configure != nil {
		configure(&cfg)
	}
	n.live = New(cfg)
	n.book.mu.Lock()
	listed := n.book.listed
	n.book.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	n.live.Start(ctx, n.h)
	// The first beat (none when hidden) goes at once: it has chosen whom it goes to once it listed the
	// contacts, so a contact added from now on hears only what the test sends.
	waitLive(t, n.name+"'s first beat", func() bool {
		if cfg.Hidden != nil && cfg.Hidden() {
			return true
		}
		n.book.mu.Lock()
		defer n.book.mu.Unlock()
		return n.book.listed > listed
	})
	var once sync.Once
	st, live := n.st, n.live
	n.stop = func() {
		once.Do(func() {
			cancel()
			live.Wait()
			st.Close()
		})
	}
	t.Cleanup(n.stop)
}

// befriend makes b a contact of a who shares presence, reachable at b's host; it returns
// the id a knows b by and their direct conversation.
func befriend(a, b *liveNode) (cid, conv string) {
	cid, conv = "c-"+b.name, "d-"+a.name+"-"+b.name
	if a.name > b.name {
		conv = "d-" + b.name + "-" + a.name
	}
	var addrs []string
	for _, x := range b.h.Addrs() {
		addrs = append(addrs, x.String())
	}
	a.book.mu.Lock()
	a.book.contacts[cid] = Contact{ID: cid, UserID: b.uid, ConvID: conv, Peer: b.h.ID(), Addrs: addrs, Accepted: true}
	a.book.convs[conv] = []Peer{{ID: b.h.ID(), Addrs: addrs}}
	a.book.mu.Unlock()
	a.h.Peerstore().AddAddrs(b.h.ID(), b.h.Addrs(), time.Hour)
	return cid, conv
}

// livePair is two running presence services that are contacts both ways, with timers
// long enough that nothing is sent but what a test sends.
func livePair(t *testing.T, timeout time.Duration) (alice, bob *liveNode, conv string) {
	t.Helper()
	opts := Options{Heartbeat: time.Hour, Timeout: timeout}
	alice, bob = startLive(t, "alice", opts, nil), startLive(t, "bob", opts, nil)
	befriend(alice, bob)
	_, conv = befriend(bob, alice)
	return alice, bob, conv
}

// presenceOf waits for a presence frame about uid in state on frames.
func presenceOf(t *testing.T, frames <-chan []byte, uid, state, what string) api.PresenceFrame {
	t.Helper()
	deadline := time.After(wait.Default)
	for {
		select {
		case f := <-frames:
			var p api.PresenceFrame
			if json.Unmarshal(f, &p) == nil && p.Type == api.FramePresence && p.UserID == uid && p.State == state {
				return p
			}
		case <-deadline:
			t.Fatalf("%s: no presence frame %s for %s", what, state, uid)
		}
	}
}

// typingFrom waits for a typing frame from uid in conv with state on frames.
func typingFrom(t *testing.T, frames <-chan []byte, uid, conv, state, what string) {
	t.Helper()
	deadline := time.After(wait.Default)
	for {
		select {
		case f := <-frames:
			var p api.TypingFrame
			if json.Unmarshal(f, &p) == nil && p.Type == api.FrameTyping && p.UserID == uid && p.ConversationID == conv && p.State == state {
				return
			}
		case <-deadline:
			t.Fatalf("%s: the typing signal never arrived", what)
		}
	}
}

func waitLive(t *testing.T, what string, f func() bool) {
	t.Helper()
	wait.For(t, what, func() error {
		if f() {
			return nil
		}
		return fmt.Errorf("not yet")
	})
}
