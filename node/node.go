package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/node/devicelink"
	"github.com/petrel-chat/petrel/node/devicesync"
	"github.com/petrel-chat/petrel/node/eventlog"
	"github.com/petrel-chat/petrel/node/groups"
	"github.com/petrel-chat/petrel/node/homerelays"
	"github.com/petrel-chat/petrel/node/localapi"
	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/messenger"
	"github.com/petrel-chat/petrel/node/p2phost"
	"github.com/petrel-chat/petrel/node/presence"
	"github.com/petrel-chat/petrel/node/push"
	"github.com/petrel-chat/petrel/node/shredkeys"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/webui"
)

// DefaultAPIAddr is where the local API listens unless told otherwise (API.md §1).
const DefaultAPIAddr = "127.0.0.1:7733"

// MaxNameBytes caps the profile name.
const MaxNameBytes = 128

var (
	keyIdentity = []byte("cfg/identity")
	keyP2PKey   = []byte("cfg/p2pkey")
	keyAPIToken = []byte("cfg/apitoken")
	keyProfile  = []byte("cfg/profile")
)

// Config configures a node run.
type Config struct {
	// DataDir holds the store and api.json.
	DataDir string
	// APIAddr is the local API's host:port; empty means DefaultAPIAddr.
	APIAddr string
	// ListenAddrs are libp2p multiaddrs; empty means p2phost.DefaultListenAddrs, and
	// p2phost.ListenNone alone means no listener: reachable only through the home relays.
	ListenAddrs []string
	// Relays are home relay multiaddrs (with /p2p/).
	Relays []string
	// Logger; nil discards.
	Logger *slog.Logger
	// Version is announced as part of the libp2p user agent.
	Version string
	// Store tunes the store (tests lower nothing here: the KDF floor is fixed).
	Store store.Options
	// Groups and Presence tune groups (size cap, delivery fallback) and presence/typing
	// timers; zero values are the defaults.
	Groups   groups.Options
	Presence presence.Options
	// RelayPoll is how often the node checks its home relays (drain, prekey top-up and
	// re-upload after a rotation) without being told to; zero means a minute.
	RelayPoll time.Duration
	// RotateToken replaces the API token before the API starts (petrel run --rotate-token):
	// the old token and every web UI session are refused from then on.
	RotateToken bool
	// APILimits bound the local API's connections and deadlines; zero fields are the
	// defaults (docs/API.md).
	APILimits localapi.Limits
	// Now is the clock for prekey rotation and message times; nil means time.Now (tests
	// move it forward).
	Now func() time.Time
	// Media tunes the media store (size limit per file, GC grace, parallel fetches); zero
	// values are the defaults (node/media, docs/API.md §6).
	Media media.Options
	// Shred tunes the keyring that makes expired disappearing messages unrecoverable
	// (node/shredkeys: bucket window, sweep interval); zero values are the defaults.
	Shred shredkeys.Options
}

// APIInfo is the content of DIR/api.json.
type APIInfo struct {
	URL    string   `json:"url"`
	Token  string   `json:"token"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
}

// Init creates a node in dir: the encrypted store, a messenger identity, a libp2p key and an
// API token. It refuses a directory that already holds a node (store.ErrExists).
func Init(ctx context.Context, dir string, passphrase []byte, name string, opts store.Options) error {
	if len(name) > MaxNameBytes {
		return fmt.Errorf("node: name longer than %d bytes", MaxNameBytes)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	st, err := store.Create(dir, passphrase, opts)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := identity.Generate()
	if err != nil {
		return fmt.Errorf("node: identity: %w", err)
	}
	hostKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return fmt.Errorf("node: host key: %w", err)
	}
	hostKeyBytes, err := crypto.MarshalPrivateKey(hostKey)
	if err != nil {
		return fmt.Errorf("node: host key: %w", err)
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	prof, _ := json.Marshal(profile{Name: name})
	err = st.Update(ctx, func(tx *store.Tx) error {
		for _, kv := range [][2][]byte{
			{keyIdentity, id.Marshal()},
			{keyP2PKey, hostKeyBytes},
			{keyAPIToken, []byte(hex.EncodeToString(tok))},
			{keyProfile, prof},
		} {
			if err := tx.Set(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("node: init: %w", err)
	}
	return st.Close()
}

type profile struct {
	Name string `json:"name"`
}

// Node is a running petrel node. Build it with Open, run it with Run.
type Node struct {
	cfg   Config
	log   *slog.Logger
	st    *store.Store
	ev    *eventlog.Log
	id    *identity.Identity
	hkey  crypto.PrivKey
	start time.Time

	// apiMu guards the API's credentials as the node holds them: token (also in the
	// store) and apiInfo (what api.json says; nil until Run writes it and once it is removed).
	apiMu   sync.Mutex
	token   string
	apiInfo *APIInfo

	// msg is the messenger: contacts, conversations, sessions, outbox and inbox. The local
	// API reaches it through apiBackend (backend.go), never through the Node itself.
	msg   *messenger.Messenger
	push  *push.Service
	media *media.Store       // attachments: DATA_DIR/media (chunks) + records in st
	shred *shredkeys.Keyring // bucket keys of disappearing content: DATA_DIR/shredkeys

	mu      sync.Mutex
	profile profile
	host    host.Host          // set once Run has started it
	homes   *homerelays.Relays // set once Run has started it, when there are home relays
	links   *devicelink.Server // set once Run has started it
	// relayInvites are registration codes for home relays that need one (relay → code).
	relayInvites map[string]string
}

// Open opens the node in cfg.DataDir with passphrase. A wrong passphrase returns an error
// wrapping store.ErrWrongPassphrase and modifies nothing.
func Open(cfg Config, passphrase []byte) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = cfg.Logger
	}
	relays, invites, err := homerelays.SplitInvites(cfg.Relays)
	if err != nil {
		return nil, err
	}
	cfg.Relays = relays
	st, err := store.Open(cfg.DataDir, passphrase, cfg.Store)
	if err != nil {
		return nil, err
	}
	// Unlocking ran Argon2id over 64 MiB, now garbage. The Go runtime would hand those
	// pages back to the OS only minutes later; a personal node that idles should not look
	// 64 MiB bigger than it is, so they go back now (one GC, once per start).
	debug.FreeOSMemory()
	n := &Node{cfg: cfg, log: cfg.Logger, st: st, start: time.Now(), relayInvites: invites}
	if err := n.load(); err != nil {
		if n.shred != nil {
			n.shred.Close()
		}
		st.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) load() error {
	var idb, hk, tok, prof []byte
	err := n.st.View(func(tx *store.Tx) error {
		for _, p := range []struct {
			k []byte
			v *[]byte
		}{{keyIdentity, &idb}, {keyP2PKey, &hk}, {keyAPIToken, &tok}, {keyProfile, &prof}} {
			v, err := tx.Get(p.k)
			if err != nil {
				return fmt.Errorf("%s: %w", p.k, err)
			}
			*p.v = v
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("node: load: %w", err)
	}
	if n.id, err = identity.Unmarshal(idb); err != nil {
		return fmt.Errorf("node: identity: %w", err)
	}
	if n.hkey, err = crypto.UnmarshalPrivateKey(hk); err != nil {
		return fmt.Errorf("node: host key: %w", err)
	}
	n.token = string(tok)
	if err := json.Unmarshal(prof, &n.profile); err != nil {
		return fmt.Errorf("node: profile: %w", err)
	}
	if n.ev, err = eventlog.Open(n.st); err != nil {
		return err
	}
	if n.cfg.Shred.Logger == nil {
		n.cfg.Shred.Logger = n.log.With("part", "shredkeys")
	}
	if n.cfg.Shred.Now == nil {
		n.cfg.Shred.Now = n.cfg.Now
	}
	if n.shred, err = shredkeys.Open(context.Background(), n.st, n.cfg.Shred); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if n.cfg.Media.Logger == nil {
		n.cfg.Media.Logger = n.log.With("part", "media")
	}
	if n.cfg.Media.Now == nil {
		n.cfg.Media.Now = n.cfg.Now
	}
	n.cfg.Media.Sealer = n.shred // media only disappearing messages use (media_store.go)
	if n.media, err = media.New(n.st, filepath.Join(n.cfg.DataDir, "media"), n.cfg.Media); err != nil {
		return fmt.Errorf("node: media: %w", err)
	}
	n.msg, err = messenger.New(context.Background(), messenger.Config{
		Store: n.st, Events: n.ev, Identity: n.id, Logger: n.log.With("part", "messenger"),
		Profile: n.profileName, Relays: n.cfg.Relays, RelayLink: relayLink{n.hostOrNil},
		Groups: n.cfg.Groups, Presence: n.cfg.Presence, Now: n.cfg.Now,
		MutedUntil: push.MutedUntil, Media: n.media, Shred: n.shred,
		DevicePush: devicesync.Push{DND: push.DNDIn, SetDND: push.SetDNDIn, SetMute: push.SetMuteIn, Changed: func() { n.push.Changed() }},
	})
	n.push = push.New(push.Config{Store: n.st, Identity: n.id, Relays: n.cfg.Relays,
		Logger: n.log.With("part", "push"), Now: n.cfg.Now, Poll: n.cfg.RelayPoll})
	return err
}

func (n *Node) profileName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.profile.Name
}

// Close closes the store. Run closes it itself; Close is for a node that never ran.
func (n *Node) Close() error { return errors.Join(n.shred.Close(), n.st.Close()) }

// Run starts the libp2p host and the local API, writes api.json once both are up, and serves
// until ctx ends or a part fails. Then it stops every part, removes api.json and closes the
// store. ready, if not nil, is called with the API info once api.json is written.
func (n *Node) Run(ctx context.Context, ready func(APIInfo)) (err error) {
	defer func() {
		if cerr := n.shred.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if cerr := n.st.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	extra, err := n.reachability()
	if err != nil {
		return err
	}
	h, err := p2phost.New(p2phost.Config{
		Key:         n.hkey,
		ListenAddrs: n.cfg.ListenAddrs,
		UserAgent:   "petrel/" + n.cfg.Version,
		Extra:       extra,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	n.mu.Lock()
	n.host = h
	n.mu.Unlock()

	if n.cfg.RotateToken {
		if err := n.saveAPIAuth(ctx, localapi.Auth{Token: localapi.NewToken()}); err != nil {
			return err
		}
		n.log.Info("API token rotated: the old token and every web UI session are refused")
	}
	sessions, err := n.apiSessions()
	if err != nil {
		return err
	}
	n.apiMu.Lock()
	token := n.token
	n.apiMu.Unlock()
	srv, err := localapi.New(localapi.Config{Token: token, Sessions: sessions, SaveAuth: n.saveAPIAuth, Limits: n.cfg.APILimits,
		Backend: apiBackend{n}, Logger: n.log.With("part", "api"), Assets: webui.Assets()})
	if err != nil {
		return err
	}
	// API.md §2: loopback unless told otherwise. Told otherwise (a non-loopback --api), the
	// node does as told and says what it means.
	ln, err := localapi.Listen(n.cfg.APIAddr, true)
	if err != nil {
		return err
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		n.log.Warn("the local API listens beyond this machine: whoever reaches it with the token controls this node, over plain HTTP; keep it on a trusted network or behind TLS", "api", ln.Addr().String())
	}
	stopLinks, err := n.serveDeviceLinks(h)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopLinks()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, ln) })
	g.Go(func() error { return n.msg.Run(gctx, h) })
	g.Go(func() error { return n.push.Run(gctx, h) })
	g.Go(func() error { return n.resumeHistory(gctx, h) })
	g.Go(func() error { return n.shred.Serve(gctx) })
	g.Go(func() error {
		if err := n.media.RunGC(gctx, time.Hour); gctx.Err() == nil {
			return err
		}
		return nil
	})
	if len(n.cfg.Relays) > 0 {
		homes := homerelays.New(homerelays.Config{Host: h, Identity: n.id, Logger: n.log.With("part", "relays"),
			Invites: n.relayInvites, Poll: n.cfg.RelayPoll, Receive: n.msg.ReceiveSealed,
			PrekeyIDs: n.msg.CurrentPrekeyIDs, Prekeys: n.relayPrekeys, Batch: messenger.RelayPrekeyBatch})
		n.mu.Lock()
		n.homes = homes
		n.mu.Unlock()
		// A revoked device stops draining its mailboxes (docs/API.md §8).
		g.Go(func() error { return n.runHomes(gctx, homes) })
		// A hole punch lost to a busy moment is tried again (p2phost.DirectRetry).
		g.Go(func() error {
			err := p2phost.DirectRetry{Host: h, Log: n.log.With("part", "direct")}.Run(gctx)
			if gctx.Err() != nil {
				return nil
			}
			return err
		})
	}

	apiHost := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		apiHost = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)) // every address: this machine's UIs use loopback
	}
	info := APIInfo{URL: "http://" + apiHost, PeerID: h.ID().String(), Addrs: n.addrs()}
	apiPath := filepath.Join(n.cfg.DataDir, "api.json")
	n.apiMu.Lock()
	info.Token = n.token // (a rotation through the API may already have happened)
	err = writeFileAtomic(apiPath, info, 0o600)
	if err == nil {
		n.apiInfo = &APIInfo{URL: info.URL, Token: info.Token, PeerID: info.PeerID, Addrs: slices.Clone(info.Addrs)}
	}
	n.apiMu.Unlock()
	if err != nil {
		ln.Close()
		return errors.Join(err, g.Wait())
	}
	defer func() {
		n.apiMu.Lock()
		n.apiInfo = nil
		os.Remove(apiPath)
		n.apiMu.Unlock()
	}()
	n.log.Info("node ready", "api", info.URL, "peer_id", info.PeerID, "user_id", n.id.UserID())
	if ready != nil {
		ready(info)
	}
	err = g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// reachability returns the libp2p options that keep a node reachable through its home
// relays: AutoRelay with them as static relays (a reservation, and /p2p-circuit addresses
// in invites, when AutoNAT finds the node private) and DCUtR hole punching to upgrade a
// relayed connection to a direct one. Without home relays: none.
func (n *Node) reachability() ([]libp2p.Option, error) {
	hidden := p2phost.ListensOnNothing(n.cfg.ListenAddrs)
	if len(n.cfg.Relays) == 0 {
		if hidden {
			return nil, fmt.Errorf("node: listening on %q needs a home relay (--relay) to be reachable", p2phost.ListenNone)
		}
		return nil, nil
	}
	var static []peer.AddrInfo
	var circuits []ma.Multiaddr
	for _, r := range n.cfg.Relays {
		ai, err := homerelays.ParseRelay(r)
		if err != nil {
			return nil, err
		}
		static = append(static, *ai)
		circuit := ma.StringCast("/p2p/" + ai.ID.String() + "/p2p-circuit")
		for _, a := range ai.Addrs {
			circuits = append(circuits, a.Encapsulate(circuit))
		}
	}
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableAutoRelayWithStaticRelays(static),
		libp2p.EnableHolePunching(),
	}
	if hidden {
		// With no listener there is nothing for AutoNAT to probe: the node is private by
		// construction, so AutoRelay reserves a slot at once and invites carry the
		// /p2p-circuit addresses.
		opts = append(opts, libp2p.ForceReachabilityPrivate())
		// AutoRelay announces circuits only through a relay's public addresses; a home
		// relay on a LAN or loopback address is still the one the node reserved a slot at,
		// so the node announces the circuit through each configured relay address itself.
		opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr {
			out := slices.Clone(addrs)
			for _, c := range circuits {
				if !slices.ContainsFunc(out, c.Equal) {
					out = append(out, c)
				}
			}
			return out
		}))
	}
	return opts, nil
}

// addrs returns the host's full multiaddrs (with /p2p/).
func (n *Node) addrs() []string {
	n.mu.Lock()
	h := n.host
	n.mu.Unlock()
	if h == nil {
		return []string{}
	}
	out := make([]string, 0, len(h.Addrs()))
	for _, a := range h.Addrs() {
		out = append(out, a.String()+"/p2p/"+h.ID().String())
	}
	return out
}

// writeFileAtomic writes v as JSON to path via a temp file and rename.
func writeFileAtomic(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".api-*.json")
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("node: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("node: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("node: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}
