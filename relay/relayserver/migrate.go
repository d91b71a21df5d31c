package relayserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/relaystore"
)

// MigrateToCluster copies the Badger store of a stopped single relay (dataDir/store) into
// the cluster cfg.Cluster names: registrations, waiting mail in deposit order, prekeys,
// and the blobs whose TTL has not ended (each checked against its id, with its uploader's
// charge).
// With an embedded cluster config this process runs the cluster node of dataDir for the
// copy (so the relay's other processes must be up for a quorum). Mailboxes already in the
// cluster are skipped, and so are blobs it holds, so a second run copies nothing twice. The Badger store is left as
// it was; once the relay runs with the cluster config it no longer reads it.
func MigrateToCluster(ctx context.Context, cfg Config, dataDir string, log *slog.Logger) (clusterstore.Imported, error) {
	var n clusterstore.Imported
	if cfg.Cluster == nil {
		return n, errors.New("relay migrate: the config has no cluster object")
	}
	if err := cfg.Validate(); err != nil {
		return n, fmt.Errorf("relay config: %w", err)
	}
	storeDir := filepath.Join(dataDir, "store")
	if _, err := os.Stat(storeDir); err != nil {
		return n, fmt.Errorf("relay migrate: no Badger store to migrate: %w", err)
	}
	from, err := relaystore.Open(storeDir, relaystore.Options{Logger: log.With("component", "store")})
	if err != nil {
		return n, err
	}
	defer from.Close()
	m := cfg.Mailbox
	octx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	to, err := clusterstore.Open(octx, *cfg.Cluster, clusterstore.Options{
		DataDir: dataDir, Logger: log.With("component", "cluster"),
		Quota: relaystore.Quota{MaxBytes: m.MaxBytes, MaxMessages: m.MaxMessages, TTL: time.Duration(m.TTL)},
	})
	if err != nil {
		return n, err
	}
	defer to.Close()
	err = from.Export(func(mb *relaystore.ExportedMailbox) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return to.Import(ctx, mb, &n)
	})
	if err != nil {
		return n, fmt.Errorf("relay migrate: %w", err)
	}
	now := time.Now()
	n.BlobsCorrupt, err = from.ExportBlobs(now, func(b *relaystore.ExportedBlob) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return to.ImportBlob(ctx, b, now, &n)
	})
	if err != nil {
		return n, fmt.Errorf("relay migrate: blobs: %w", err)
	}
	if n.BlobsCorrupt > 0 {
		log.Warn("blobs not moved: their bytes do not hash to their ids (their uploaders upload them again)", "blobs", n.BlobsCorrupt)
	}
	log.Info("migration done", "mailboxes", n.Mailboxes, "skipped", n.Skipped, "messages", n.Messages, "prekeys", n.Prekeys,
		"blobs", n.Blobs, "blob_bytes", n.BlobBytes, "blobs_skipped", n.BlobsSkipped)
	return n, nil
}
