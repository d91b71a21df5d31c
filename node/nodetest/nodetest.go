package nodetest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/store"
)

// Passphrase unlocks every test node.
const Passphrase = "nodetest passphrase, not a secret"

// Node is a running test node.
type Node struct {
	Dir    string
	Name   string
	Info   node.APIInfo
	Client *localclient.Client
	// Relays are the node's home relays from its next Run on (full multiaddrs).
	Relays []string
	// APIAddr, when set, is where the next Run listens for the API (say, the previous
	// address, to restart a node under a browser that keeps its URL); empty picks a free port.
	APIAddr string
	// Config, when set before Run, adds options to the node's configuration (groups,
	// presence timers); Start leaves it empty.
	Config func(*node.Config)
	// Node is the running node (nil before the first Run); it changes on each Run.
	Node *node.Node

	t      testing.TB
	listen string // the first run's libp2p address, kept across restarts
	cancel context.CancelFunc
	done   chan error
}

// Start creates a node named name in a fresh temp dir and runs it until the test ends.
func Start(t testing.TB, name string) *Node {
	t.Helper()
	return StartWith(t, name, nil)
}

// StartWith is Start with configure applied to the node's configuration.
func StartWith(t testing.TB, name string, configure func(*node.Config)) *Node {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := node.Init(ctx, dir, []byte(Passphrase), name, store.Options{}); err != nil {
		t.Fatalf("nodetest: init: %v", err)
	}
	n := &Node{Dir: dir, Name: name, t: t, Config: configure}
	n.Run()
	t.Cleanup(n.Stop)
	return n
}

// Run (re)starts the node in its directory and waits until its API is ready. The libp2p
// listen port of the first run is kept for the later ones, as a deployed node's would be, so
// its contacts still reach it at the address they know.
func (n *Node) Run() {
	n.t.Helper()
	if n.listen == "" {
		n.listen = "/ip4/127.0.0.1/tcp/0"
	}
	apiAddr := n.APIAddr
	if apiAddr == "" {
		apiAddr = "127.0.0.1:0"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := node.Config{
		DataDir:     n.Dir,
		APIAddr:     apiAddr,
		ListenAddrs: []string{n.listen},
		Relays:      n.Relays,
		Logger:      logger.With("node", n.Name),
		Version:     "test",
	}
	if n.Config != nil {
		n.Config(&cfg)
	}
	nd, err := node.Open(cfg, []byte(Passphrase))
	if err != nil {
		n.t.Fatalf("nodetest: open %s: %v", n.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan node.APIInfo, 1)
	done := make(chan error, 1)
	go func() { done <- nd.Run(ctx, func(in node.APIInfo) { ready <- in }) }()
	select {
	case in := <-ready:
		n.Info = in
	case err := <-done:
		cancel()
		n.t.Fatalf("nodetest: run %s: %v", n.Name, err)
	case <-time.After(time.Minute):
		cancel()
		n.t.Fatalf("nodetest: %s not ready within a minute", n.Name)
	}
	n.cancel, n.done, n.Node = cancel, done, nd
	if n.listen == "/ip4/127.0.0.1/tcp/0" && len(n.Info.Addrs) > 0 && !strings.Contains(n.Info.Addrs[0], "/p2p-circuit") {
		if a, _, ok := strings.Cut(n.Info.Addrs[0], "/p2p/"); ok {
			n.listen = a
		}
	}
	n.Client = localclient.New(n.Info.URL, n.Info.Token)
}

// Stop shuts the node down gracefully and fails the test if shutdown fails.
func (n *Node) Stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("nodetest: %s stopped with %v", n.Name, err)
		}
	case <-time.After(30 * time.Second):
		n.t.Errorf("nodetest: %s did not stop within 30 s", n.Name)
	}
}

// Restart stops and runs the node again on a new API port.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.Run()
}

// UpdateStore opens the stopped node's encrypted store, runs f in one transaction and
// closes it (tests that set up what only a store edit can: a swapped network key, a lost
// session).
// Failures go to t, the calling (sub)test.
func (n *Node) UpdateStore(t testing.TB, f func(tx *store.Tx) error) {
	t.Helper()
	st, err := store.Open(n.Dir, []byte(Passphrase), store.Options{})
	if err != nil {
		t.Fatalf("open %s's store: %v", n.Name, err)
	}
	defer st.Close()
	if err := st.Update(context.Background(), f); err != nil {
		t.Fatalf("%s's store: %v", n.Name, err)
	}
}

// StartImpostor starts a node named name with a fresh identity behind the libp2p key of
// victim, which must be stopped (its store is read). Its peer id is victim's: to victim's
// contacts it is the same network peer presenting another identity key, the case a
// safety-number change warns about.
func StartImpostor(t testing.TB, victim *Node, name string) *Node {
	t.Helper()
	var hostKey []byte
	victim.UpdateStore(t, func(tx *store.Tx) error {
		var err error
		hostKey, err = tx.Get([]byte("cfg/p2pkey"))
		return err
	})
	imp := Start(t, name)
	imp.Stop()
	imp.UpdateStore(t, func(tx *store.Tx) error { return tx.Set([]byte("cfg/p2pkey"), hostKey) })
	imp.Run()
	if imp.Info.PeerID != victim.Info.PeerID {
		t.Fatalf("nodetest: %s runs as %s, %s was %s", name, imp.Info.PeerID, victim.Name, victim.Info.PeerID)
	}
	return imp
}
