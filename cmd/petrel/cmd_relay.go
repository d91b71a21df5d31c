package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/petrel-chat/petrel/relay/relayserver"
)

// relayInfoFile is written in the data directory once the relay is ready (API.md §1).
const relayInfoFile = "relay.json"

func cmdRelay(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "migrate" {
		return cmdRelayMigrate(ctx, env, args[1:])
	}
	flags := flag.NewFlagSet("relay", flag.ContinueOnError)
	var c commonFlags
	flags.StringVar(&c.data, "data", "", "data directory (default: "+defaultDataDir()+")")
	flags.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	configPath := flags.String("config", "", "relay configuration file (JSON; see docs/OPERATIONS.md)")
	var listen multiFlag
	flags.Var(&listen, "listen", "libp2p listen multiaddr (repeatable; replaces the config's listen)")
	if err := parse(flags, args); err != nil {
		return err
	}
	log, err := c.logger(env.stderr)
	if err != nil {
		return err
	}
	cfg := relayserver.DefaultConfig()
	if *configPath != "" {
		if cfg, err = relayserver.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	if len(listen) > 0 {
		cfg.Listen = listen
	}
	dir := c.dataDir()
	s, err := relayserver.New(cfg, relayserver.Options{
		DataDir:   dir,
		Logger:    log,
		UserAgent: "petrel-relay/" + version,
	})
	if err != nil {
		return err
	}
	infoPath := filepath.Join(dir, relayInfoFile)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var writeErr error
	err = s.Run(ctx, func(info relayserver.Info) {
		if writeErr = relayserver.WriteInfoFile(infoPath, info); writeErr != nil {
			cancel() // nobody could find us: stop
			return
		}
		fmt.Fprintf(env.stdout, "petrel relay is running.\n  peer:   %s\n", info.PeerID)
		for _, a := range info.Addrs {
			fmt.Fprintf(env.stdout, "  addr:   %s\n", a)
		}
		if info.Metrics != "" {
			fmt.Fprintf(env.stdout, "  metrics: %s/metrics\n", info.Metrics)
		}
	})
	if rmErr := os.Remove(infoPath); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
		err = rmErr
	}
	if writeErr != nil {
		return fmt.Errorf("writing %s: %w", infoPath, writeErr)
	}
	return err
}

// cmdRelayMigrate moves a stopped single relay's Badger store (DIR/store) into the relay
// cluster its config names (docs/OPERATIONS.md, "Moving a relay into a cluster").
func cmdRelayMigrate(ctx context.Context, env *cliEnv, args []string) error {
	flags := flag.NewFlagSet("relay migrate", flag.ContinueOnError)
	var c commonFlags
	flags.StringVar(&c.data, "data", "", "the single relay's data directory (default: "+defaultDataDir()+")")
	flags.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	configPath := flags.String("config", "", "relay configuration file with a cluster object (required)")
	if err := parse(flags, args); err != nil {
		return err
	}
	log, err := c.logger(env.stderr)
	if err != nil {
		return err
	}
	if *configPath == "" {
		return fmt.Errorf("%w: relay migrate needs --config FILE (with a cluster object)", errUsage)
	}
	cfg, err := relayserver.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	if cfg.Cluster == nil {
		return fmt.Errorf("relay migrate: %s has no cluster object to migrate into", *configPath)
	}
	dir := c.dataDir()
	n, err := relayserver.MigrateToCluster(ctx, cfg, dir, log)
	fmt.Fprintf(env.stdout, "migrated %d mailboxes (%d already in the cluster, skipped), %d messages, %d one-time prekeys\n",
		n.Mailboxes, n.Skipped, n.Messages, n.Prekeys)
	fmt.Fprintf(env.stdout, "migrated %d blobs, %d bytes (%d already in the cluster, skipped; %d corrupt, not moved)\n",
		n.Blobs, n.BlobBytes, n.BlobsSkipped, n.BlobsCorrupt)
	return err
}
