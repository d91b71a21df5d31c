package relayserver

import (
	"github.com/petrel-chat/petrel/relay/clusterstore"
	"github.com/petrel-chat/petrel/relay/relaywire"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus series, on the server's own registry.
type metrics struct {
	reg *prometheus.Registry

	deposits, depositBytes, fetches, fetched, acked, purged prometheus.Counter
	multiDeposits, multiRecipients                          prometheus.Counter
	registrations, bundles, uploads                         prometheus.Counter
	refusals                                                *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "petrel_relay", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "petrel_relay", Name: name, Help: help}, f))
	}
	m := &metrics{
		reg:             reg,
		deposits:        counter("deposits_total", "Envelopes stored (acknowledged deposits)."),
		depositBytes:    counter("deposit_bytes_total", "Envelope bytes stored (a multi deposit's body once, plus its headers)."),
		multiDeposits:   counter("multi_deposits_total", "Multi deposits stored for at least one mailbox (each body stored once)."),
		multiRecipients: counter("multi_deposit_recipients_total", "Mailbox entries stored by multi deposits."),
		fetches:         counter("fetches_total", "Fetch requests answered."),
		fetched:         counter("fetched_messages_total", "Messages handed to their owners (a message fetched twice counts twice)."),
		acked:           counter("acked_messages_total", "Messages deleted after their owner's acknowledgement."),
		purged:          counter("purged_messages_total", "Messages deleted because their TTL ended."),
		registrations:   counter("registrations_total", "Mailboxes created."),
		bundles:         counter("bundles_served_total", "Prekey bundles handed out."),
		uploads:         counter("prekey_uploads_total", "Prekey uploads accepted."),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "petrel_relay", Name: "refusals_total", Help: "Requests refused, by reason code.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.refusals)
	for _, c := range relaywire.Codes() {
		if c != relaywire.OK {
			m.refusals.WithLabelValues(c.String())
		}
	}
	gauge("connected_peers", "Peers with at least one open connection.", func() float64 { return float64(len(s.host.Network().Peers())) })
	gauge("mailboxes", "Registered mailboxes.", func() float64 { return float64(s.store.Stats().Mailboxes) })
	gauge("stored_messages", "Messages waiting in mailboxes.", func() float64 { return float64(s.store.Stats().Messages) })
	gauge("stored_bytes", "Envelope bytes waiting in mailboxes, as charged to them (a shared body in each).", func() float64 { return float64(s.store.Stats().Bytes) })
	gauge("shared_bodies", "Multi-deposit bodies stored (once each).", func() float64 { return float64(s.store.Stats().SharedBodies) })
	gauge("shared_body_bytes", "Bytes of multi-deposit bodies stored.", func() float64 { return float64(s.store.Stats().SharedBytes) })
	gauge("watchers", "Open watch streams.", func() float64 { return float64(s.watch.count()) })
	gauge("rate_buckets", "Token buckets held for recently active depositors, mailboxes and bundle requesters.", func() float64 {
		return float64(s.peerRate.size() + s.mailboxRate.size() + s.bundleRate.size() + s.registerRate.size())
	})
	gauge("circuit_reservations_enabled", "1 when the circuit relay v2 service runs.", func() float64 {
		if s.circuit != nil {
			return 1
		}
		return 0
	})
	s.circuitStats.register(reg)
	s.blobs.register(reg, s.store)
	if cs, ok := s.store.(*clusterstore.Store); ok {
		registerClusterMetrics(reg, cs)
	}
	return m
}

// registerClusterMetrics adds the JetStream cluster as this process sees it.
func registerClusterMetrics(reg *prometheus.Registry, cs *clusterstore.Store) {
	gauge := func(name, help string, f func(st *clusterstore.State) float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "petrel_relay", Subsystem: "cluster", Name: name, Help: help},
			func() float64 { st := cs.State(); return f(&st) }))
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	gauge("up", "1 when this process can store mail: connected to JetStream and the mail stream has a leader.", func(st *clusterstore.State) float64 { return b(st.Healthy()) })
	gauge("connected", "1 when the NATS client connection is up.", func(st *clusterstore.State) float64 { return b(st.Connected) })
	gauge("routes", "Open route connections to other cluster processes (embedded server).", func(st *clusterstore.State) float64 { return float64(st.Routes) })
	gauge("meta_peers", "JetStream meta group size as this server knows it (embedded server).", func(st *clusterstore.State) float64 { return float64(st.MetaPeers) })
	gauge("meta_peers_current", "JetStream meta group peers that are current (embedded server).", func(st *clusterstore.State) float64 { return float64(st.MetaCurrent) })
	gauge("meta_leader", "1 when this process's server is the JetStream meta leader.", func(st *clusterstore.State) float64 { return b(st.Embedded && st.MetaLeader == st.Server) })
	gauge("mail_leader", "1 when this process's server leads the mail stream.", func(st *clusterstore.State) float64 { return b(st.Embedded && st.MailLeader == st.Server) })
	gauge("mail_replicas_current", "Followers of the mail stream that are current.", func(st *clusterstore.State) float64 {
		n := 0
		for _, r := range st.MailReplicas {
			if r.Current {
				n++
			}
		}
		return float64(n)
	})
	gauge("mail_replica_lag_max", "The largest lag (operations) of a mail stream follower.", func(st *clusterstore.State) float64 {
		var n uint64
		for _, r := range st.MailReplicas {
			n = max(n, r.Lag)
		}
		return float64(n)
	})
}

func (m *metrics) refused(c relaywire.Code) { m.refusals.WithLabelValues(c.String()).Inc() }
