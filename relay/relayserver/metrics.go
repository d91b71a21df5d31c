package relayserver

import (
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
	return m
}

func (m *metrics) refused(c relaywire.Code) { m.refusals.WithLabelValues(c.String()).Inc() }
