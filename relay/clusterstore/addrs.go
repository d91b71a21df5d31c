package clusterstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every process of a cluster publishes its libp2p addresses in a bucket, so each can tell
// the world (relay.json) the addresses of all:
//
//	bucket petrel_addrs   SERVERNAME (hex) → JSON list of full multiaddrs (with /p2p/)
//
// Entries expire after addrsTTL unless refreshed (the relay refreshes them every purge
// interval, at most every minute), so a process gone for good drops out.

// addrsTTL is how long a process's published addresses last without a refresh.
const addrsTTL = 10 * time.Minute

// setupAddrs creates or binds the addresses bucket, retrying until ctx ends.
func (s *Store) setupAddrs(ctx context.Context) error {
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Duration(s.cfg.Timeout))
		kv, err := s.js.CreateOrUpdateKeyValue(rctx, jetstream.KeyValueConfig{
			Bucket: s.cfg.Prefix + "_addrs", Description: "each relay process's libp2p addresses",
			Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas, History: 1, TTL: addrsTTL,
		})
		cancel()
		if err == nil {
			s.addrs = kv
			return nil
		}
		s.log.Info("waiting to create the addresses bucket", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("clusterstore: bucket %s_addrs: %w", s.cfg.Prefix, err)
		case <-time.After(wait):
		}
	}
}

// serverKey names this process in the addresses bucket.
func (s *Store) serverKey() string {
	name := s.cfg.ServerName
	if s.ns == nil {
		name = s.nc.ConnectedServerName() + "/" + s.cfg.ServerName
	}
	return hex.EncodeToString([]byte(name))
}

// PublishAddrs records this process's addresses (full multiaddrs) for the others.
func (s *Store) PublishAddrs(ctx context.Context, addrs []string) error {
	b, err := json.Marshal(addrs)
	if err != nil {
		return err
	}
	rctx, cancel := s.req(ctx)
	defer cancel()
	if _, err := s.addrs.Put(rctx, s.serverKey(), b); err != nil {
		return fmt.Errorf("clusterstore: publish addresses: %w", err)
	}
	return nil
}

// ClusterAddrs returns the addresses every process published, this one's first, each
// process's in its order.
func (s *Store) ClusterAddrs(ctx context.Context) ([][]string, error) {
	wctx, cancel := s.req(ctx)
	defer cancel()
	w, err := s.addrs.WatchAll(wctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("clusterstore: addresses: %w", err)
	}
	defer w.Stop()
	own := s.serverKey()
	var mine []string
	var others [][]string
	for e := range w.Updates() {
		if e == nil {
			break
		}
		var a []string
		if json.Unmarshal(e.Value(), &a) != nil {
			continue
		}
		if e.Key() == own {
			mine = a
		} else {
			others = append(others, a)
		}
	}
	if err := wctx.Err(); err != nil {
		return nil, fmt.Errorf("clusterstore: addresses: %w", err)
	}
	return append([][]string{mine}, others...), nil
}
