package relayserver

import (
	"context"
	"strings"
	"time"

	"github.com/petrel-chat/petrel/relay/clusterstore"
)

// clusterAddrsWait bounds how long Run waits, before it reports ready, for the other
// processes of a new cluster to publish their addresses.
const clusterAddrsWait = 30 * time.Second

// publishAddrs records this process's own addresses in the cluster (no-op without one).
func (s *Server) publishAddrs(ctx context.Context) {
	cs, ok := s.store.(*clusterstore.Store)
	if !ok {
		return
	}
	if err := cs.PublishAddrs(ctx, s.ownAddrs()); err != nil && ctx.Err() == nil {
		s.log.Warn("publishing this process's addresses to the cluster failed", "err", err)
	}
}

// withClusterAddrs appends to own the addresses the cluster's other processes published
// under this relay's peer id (processes that share relay.key: one relay to nodes).
// Addresses of a process with another key are left out (and logged): nodes could not
// reach this relay's peer id there.
func (s *Server) withClusterAddrs(own []string) []string {
	out, _ := s.clusterAddrs(s.ctx, own)
	return out
}

// clusterAddrs is withClusterAddrs, also counting the processes whose addresses it added
// (this one included).
func (s *Server) clusterAddrs(ctx context.Context, own []string) ([]string, int) {
	cs, ok := s.store.(*clusterstore.Store)
	if !ok {
		return own, 1
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lists, err := cs.ClusterAddrs(ctx)
	if err != nil {
		s.log.Warn("reading the cluster's addresses failed; relay.json lists this process's only", "err", err)
		return own, 1
	}
	procs := 1
	suffix := "/p2p/" + s.host.ID().String()
	seen := map[string]bool{}
	out := append([]string(nil), own...)
	for _, a := range own {
		seen[a] = true
	}
	for _, l := range lists[1:] {
		added := false
		for _, a := range l {
			switch {
			case seen[a]:
			case !strings.HasSuffix(a, suffix):
				s.log.Warn("a cluster process has another peer id (copy relay.key to every process)", "addr", a)
			default:
				seen[a] = true
				out = append(out, a)
				added = true
			}
		}
		if added {
			procs++
		}
	}
	return out, procs
}

// awaitClusterAddrs publishes this process's addresses and returns the relay's: with an
// embedded cluster it waits (at most clusterAddrsWait) until every process has published
// its own, so relay.json lists them all when a cluster starts together.
func (s *Server) awaitClusterAddrs(ctx context.Context) []string {
	own := s.ownAddrs()
	if _, ok := s.store.(*clusterstore.Store); !ok {
		return own
	}
	s.publishAddrs(ctx)
	want := 0
	if s.cfg.Cluster.Embedded() {
		want = len(s.cfg.Cluster.Routes) + 1
	}
	ctx, cancel := context.WithTimeout(ctx, clusterAddrsWait)
	defer cancel()
	for {
		addrs, procs := s.clusterAddrs(ctx, own)
		if procs >= want {
			return addrs
		}
		select {
		case <-ctx.Done():
			s.log.Info("not every cluster process has published its addresses yet; relay.json lists those known", "want", want, "have", procs)
			return addrs
		case <-time.After(100 * time.Millisecond):
		}
	}
}
