package bridge

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the bridge's Prometheus series (namespace petrel_push).
type Metrics struct {
	sentC, failedC, deadC   *prometheus.CounterVec
	coalescedC, dndC, dropC prometheus.Counter
}

// NewMetrics registers the bridge's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sentC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "petrel_push", Name: "sent_total",
			Help: "Pushes a provider accepted, by provider."}, []string{"provider"}),
		failedC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "petrel_push", Name: "failed_total",
			Help: "Push attempts that failed, by provider and reason (dead, too_large, retry_STATUS, retry_network, STATUS, error)."}, []string{"provider", "reason"}),
		deadC: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "petrel_push", Name: "dead_registrations_total",
			Help: "Registrations their provider declared gone, by provider."}, []string{"provider"}),
		coalescedC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "petrel_push", Name: "coalesced_total",
			Help: "Deposits that caused no push of their own (covered by the next push of their registration)."}),
		dndC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "petrel_push", Name: "suppressed_dnd_total",
			Help: "Pushes not sent because the owner's do-not-disturb time had not passed."}),
		dropC: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "petrel_push", Name: "dropped_total",
			Help: "Deposits not considered for a push because the bridge's queue was full."}),
	}
	reg.MustRegister(m.sentC, m.failedC, m.deadC, m.coalescedC, m.dndC, m.dropC)
	for _, k := range Kinds() {
		m.sentC.WithLabelValues(k)
		m.deadC.WithLabelValues(k)
	}
	return m
}

func (m *Metrics) sent(kind string) {
	if m != nil {
		m.sentC.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) failed(kind, reason string) {
	if m != nil {
		m.failedC.WithLabelValues(kind, reason).Inc()
	}
}

func (m *Metrics) deadRegistration(kind string) {
	if m != nil {
		m.deadC.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) coalesced() {
	if m != nil {
		m.coalescedC.Inc()
	}
}

func (m *Metrics) suppressed(n int) {
	if m != nil {
		m.dndC.Add(float64(n))
	}
}

func (m *Metrics) dropped() {
	if m != nil {
		m.dropC.Inc()
	}
}
