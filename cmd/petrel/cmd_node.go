package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/store"
)

func cmdInit(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	name := fs.String("name", "", "your display name (with --link: this device's name)")
	link := fs.String("link", "", "a petrel-device: link from your other device: join its account")
	var relays multiFlag
	fs.Var(&relays, "relay", "with --link: a home relay multiaddr (with /p2p/) petrel run will use (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := c.logger(env.stderr)
	if err != nil {
		return err
	}
	pass, err := readPassphrase(env, c.passphraseFile, true)
	if err != nil {
		return err
	}
	dir := c.dataDir()
	if *link != "" {
		return initLinked(ctx, env, dir, pass, *name, *link, relays, store.Options{Logger: log})
	}
	if err := node.Init(ctx, dir, pass, *name, store.Options{Logger: log}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%s already holds a petrel node", dir)
		}
		return err
	}
	fmt.Fprintf(env.stdout, "Created a petrel node in %s.\nStart it with: petrel run --data %s\n", dir, dir)
	return nil
}

func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c commonFlags
	c.register(fs)
	apiAddr := fs.String("api", node.DefaultAPIAddr, "local API address (port 0 picks a free port)")
	var listen, relays multiFlag
	fs.Var(&listen, "listen", "libp2p listen multiaddr (repeatable; \"none\" alone: listen on nothing, reachable only through --relay)")
	rotate := fs.Bool("rotate-token", false, "replace the API token before starting: the old token and every web UI login are refused (api.json gets the new one)")
	fs.Var(&relays, "relay", "home relay multiaddr with /p2p/, optionally #invite=CODE for a relay that registers by invite (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := c.logger(env.stderr)
	if err != nil {
		return err
	}
	pass, err := readPassphrase(env, c.passphraseFile, false)
	if err != nil {
		return err
	}
	n, err := node.Open(node.Config{
		DataDir:     c.dataDir(),
		APIAddr:     *apiAddr,
		ListenAddrs: listen,
		Relays:      relays,
		RotateToken: *rotate,
		Logger:      log,
		Version:     version,
	}, pass)
	switch {
	case errors.Is(err, store.ErrWrongPassphrase):
		return errors.New("wrong passphrase")
	case errors.Is(err, store.ErrNotInitialized):
		return fmt.Errorf("no petrel node in %s: create one with petrel init --data %s", c.dataDir(), c.dataDir())
	case errors.Is(err, store.ErrLocked):
		return fmt.Errorf("another petrel is already running on %s (one process per data directory)", c.dataDir())
	case errors.Is(err, store.ErrRolledBack):
		return fmt.Errorf("the database in %s is older than its last use (restored from a copy?); refusing to open it, because an older ratchet state would reuse message keys: see docs/OPERATIONS.md, Store rollback", c.dataDir())
	case err != nil:
		return err
	}
	return n.Run(ctx, func(info node.APIInfo) {
		fmt.Fprintf(env.stdout, "petrel is running.\n  Web UI: %s/#token=%s\n  API:    %s (token in %s/api.json)\n  peer:   %s\n", info.URL, info.Token, info.URL, c.dataDir(), info.PeerID)
	})
}
