package clusterstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// State is what one process knows of the cluster, for /healthz and metrics. It is
// refreshed with the totals, every two seconds.
type State struct {
	Embedded  bool   `json:"embedded"`
	Server    string `json:"server"`    // this process's server name (embedded), else the connected URL
	Connected bool   `json:"connected"` // the client connection is up
	Routes    int    `json:"routes"`    // open route connections (embedded)
	// MetaLeader and MetaPeers: the JetStream meta group as this server sees it (embedded).
	MetaLeader  string `json:"meta_leader,omitempty"`
	MetaPeers   int    `json:"meta_peers,omitempty"`
	MetaCurrent int    `json:"meta_current,omitempty"` // peers that are current
	// MailLeader and MailReplicas: the mail stream's Raft group.
	MailLeader   string    `json:"mail_leader,omitempty"`
	MailReplicas []Replica `json:"mail_replicas,omitempty"`
	// Error is why the last look at the mail stream failed ("" when it answered).
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// Replica is one member of a stream's Raft group.
type Replica struct {
	Name    string `json:"name"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag,omitempty"`
}

// Healthy says whether this process can store mail: connected, and the mail stream has a
// leader that answered.
func (st *State) Healthy() bool { return st.Connected && st.Error == "" && st.MailLeader != "" }

// Summary is one line for /healthz.
func (st *State) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster server=%s connected=%t routes=%d meta_leader=%s mail_leader=%s", st.Server, st.Connected, st.Routes, st.MetaLeader, st.MailLeader)
	for _, r := range st.MailReplicas {
		fmt.Fprintf(&b, " replica=%s,current=%t,lag=%d", r.Name, r.Current, r.Lag)
	}
	if st.Error != "" {
		fmt.Fprintf(&b, " error=%q", st.Error)
	}
	return b.String()
}

// State returns the last look at the cluster.
func (s *Store) State() State {
	if p := s.state.Load(); p != nil {
		return *p
	}
	return State{Error: "not looked at yet"}
}

func (s *Store) readState(ctx context.Context) *State {
	st := &State{Embedded: s.ns != nil, Connected: s.nc.IsConnected(), At: time.Now()}
	if s.ns != nil {
		st.Server = s.ns.Name()
		st.Routes = s.ns.NumRoutes()
		if jsz, err := s.ns.Jsz(&server.JSzOptions{}); err == nil && jsz.Meta != nil {
			st.MetaLeader = jsz.Meta.Leader
			st.MetaPeers = jsz.Meta.Size
			for _, r := range jsz.Meta.Replicas {
				if r.Current {
					st.MetaCurrent++
				}
			}
		}
	} else {
		st.Server = s.nc.ConnectedUrlRedacted()
	}
	info, err := s.mail.Info(ctx)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	if c := info.Cluster; c == nil || c.Leader == "" && st.Embedded && len(s.cfg.Routes) == 0 {
		st.MailLeader = st.Server // JetStream alone: it answered, so it leads
	}
	if c := info.Cluster; c != nil && c.Leader != "" {
		st.MailLeader = c.Leader
		for _, r := range c.Replicas {
			st.MailReplicas = append(st.MailReplicas, Replica{Name: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag})
		}
	}
	return st
}
