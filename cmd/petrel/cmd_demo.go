package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localclient"
	"github.com/petrel-chat/petrel/node/store"
	"github.com/petrel-chat/petrel/relay/relayserver"
)

// cmdDemo is `petrel demo`: two nodes, alice and bob, in temporary directories on loopback,
// made contacts of each other, with both web UI links printed. Everything runs in this
// process (the node package, as `petrel run` uses it), one errgroup owns every part, and
// Ctrl-C stops them all and removes the directories.
//
// The steps, in order: (1) a relay in ROOT/relay, whose address becomes each node's home
// relay (demo.relays), so a message to a stopped node waits in its mailbox; (2) the nodes;
// (3) the friendship; (4) the links.
func cmdDemo(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	apiPort := fs.Int("api-port", 0, "alice's API port; bob gets the next one (0: free ports)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := parse(fs, args); err != nil {
		return err
	}
	c := commonFlags{logLevel: *logLevel}
	log, err := c.logger(env.stderr)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "petrel-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(root)

	g, gctx := errgroup.WithContext(ctx)
	d := &demo{root: root, log: log, g: g, passphrase: randomPassphrase()}
	err = d.start(gctx, *apiPort, env)
	if err == nil {
		fmt.Fprintf(env.stdout, "\nCtrl-C stops both nodes and deletes %s.\n", root)
		<-gctx.Done()
	}
	err = errors.Join(err, g.Wait())
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// demo is one run of `petrel demo`.
type demo struct {
	root       string
	log        *slog.Logger
	g          *errgroup.Group // owns every part; its context ends them all
	passphrase []byte
	relays     []string // home relay multiaddrs for the nodes
}

// demoNode is a running node of the demo.
type demoNode struct {
	name   string
	info   node.APIInfo
	client *localclient.Client
}

// uiLink is the web UI link that logs a browser in (the token rides in the fragment, which
// the browser never sends to a server).
func (n *demoNode) uiLink() string { return n.info.URL + "/#token=" + n.info.Token }

func (d *demo) start(ctx context.Context, apiPort int, env *cliEnv) error {
	relay, err := d.startRelay(ctx)
	if err != nil {
		return err
	}
	port := func(i int) int {
		if apiPort == 0 {
			return 0
		}
		return apiPort + i
	}
	alice, err := d.startNode(ctx, "alice", "Alice", port(0))
	if err != nil {
		return err
	}
	bob, err := d.startNode(ctx, "bob", "Bob", port(1))
	if err != nil {
		return err
	}
	if err := befriend(ctx, alice, bob); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "petrel demo: a relay and two nodes on this machine, already contacts of each other.\n\n")
	fmt.Fprintf(env.stdout, "  relay  %s\n", relay)
	for _, n := range []*demoNode{alice, bob} {
		fmt.Fprintf(env.stdout, "  %-5s  %s\n", n.name, n.uiLink())
	}
	fmt.Fprintf(env.stdout, "\nOpen both links (one browser is fine: each node has its own session cookie) and chat between them.\n")
	return nil
}

// startRelay runs a relay in ROOT/relay under d.g, on loopback, and makes it the nodes'
// home relay; it returns the relay's address once it serves.
func (d *demo) startRelay(ctx context.Context) (string, error) {
	cfg := relayserver.DefaultConfig()
	cfg.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	s, err := relayserver.New(cfg, relayserver.Options{
		DataDir: filepath.Join(d.root, "relay"), Logger: d.log.With("relay", "demo"),
		UserAgent: "petrel-relay/" + version,
	})
	if err != nil {
		return "", fmt.Errorf("demo: relay: %w", err)
	}
	ready := make(chan relayserver.Info, 1)
	done := make(chan struct{})
	d.g.Go(func() error {
		defer close(done)
		if err := s.Run(ctx, func(in relayserver.Info) { ready <- in }); err != nil {
			return fmt.Errorf("demo: relay: %w", err)
		}
		return nil
	})
	select {
	case in := <-ready:
		if len(in.Addrs) == 0 {
			return "", errors.New("demo: the relay has no address")
		}
		d.relays = in.Addrs[:1]
		return in.Addrs[0], nil
	case <-done:
		return "", errors.New("demo: the relay stopped before it was ready")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// startNode creates a node in ROOT/name and runs it under d.g; it returns once the node's
// API is up.
func (d *demo) startNode(ctx context.Context, name, display string, apiPort int) (*demoNode, error) {
	dir := filepath.Join(d.root, name)
	opts := store.Options{Logger: d.log}
	if err := node.Init(ctx, dir, d.passphrase, display, opts); err != nil {
		return nil, fmt.Errorf("demo: %s: %w", name, err)
	}
	n, err := node.Open(node.Config{
		DataDir:     dir,
		APIAddr:     "127.0.0.1:" + strconv.Itoa(apiPort),
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Relays:      d.relays,
		Logger:      d.log.With("node", name),
		Version:     version,
		Store:       opts,
	}, d.passphrase)
	if err != nil {
		return nil, fmt.Errorf("demo: %s: %w", name, err)
	}
	ready := make(chan node.APIInfo, 1)
	done := make(chan struct{})
	d.g.Go(func() error {
		defer close(done)
		if err := n.Run(ctx, func(in node.APIInfo) { ready <- in }); err != nil {
			return fmt.Errorf("demo: %s: %w", name, err)
		}
		return nil
	})
	select {
	case in := <-ready:
		return &demoNode{name: name, info: in, client: localclient.New(in.URL, in.Token)}, nil
	case <-done:
		return nil, fmt.Errorf("demo: %s stopped before it was ready", name)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// befriend makes a and b contacts of each other, each by adding the other's invite link, so
// neither sees the other as a message request.
func befriend(ctx context.Context, a, b *demoNode) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, p := range [][2]*demoNode{{a, b}, {b, a}} {
		inv, err := p[1].client.CreateInvite(ctx)
		if err != nil {
			return fmt.Errorf("demo: invite from %s: %w", p[1].name, err)
		}
		if err := p[0].client.Do(ctx, "POST", "/v1/contacts", api.ContactAdd{Link: inv.Link}, nil); err != nil {
			return fmt.Errorf("demo: %s adds %s: %w", p[0].name, p[1].name, err)
		}
	}
	return nil
}

// randomPassphrase locks the demo's throwaway stores.
func randomPassphrase() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}
