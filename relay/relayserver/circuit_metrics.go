package relayserver

import (
	"strings"
	"sync/atomic"
	"time"

	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/prometheus/client_golang/prometheus"
)

// circuitTracer counts what the circuit relay v2 service does (its MetricsTracer hook):
// reservations held, reservation and circuit requests by outcome, circuits opened and
// open, bytes relayed. The counts are plain atomics; metrics reads them.
type circuitTracer struct {
	reservations, circuits atomic.Int64
	opened, relayedBytes   atomic.Int64
	reservationReqs        [statusSlots]atomic.Int64
	circuitReqs            [statusSlots]atomic.Int64
}

// statusSlots covers the circuit v2 protocol's status codes (100, 200-204, 300-301, 400-401).
const statusSlots = 402

var _ relayv2.MetricsTracer = (*circuitTracer)(nil)

func newCircuitTracer() *circuitTracer { return &circuitTracer{} }

func (c *circuitTracer) RelayStatus(bool)               {}
func (c *circuitTracer) ConnectionOpened()              { c.opened.Add(1); c.circuits.Add(1) }
func (c *circuitTracer) ConnectionClosed(time.Duration) { c.circuits.Add(-1) }
func (c *circuitTracer) ConnectionRequestHandled(st pbv2.Status) {
	if i := int(st); i >= 0 && i < statusSlots {
		c.circuitReqs[i].Add(1)
	}
}
func (c *circuitTracer) ReservationAllowed(renewal bool) {
	if !renewal {
		c.reservations.Add(1)
	}
}
func (c *circuitTracer) ReservationClosed(n int) { c.reservations.Add(-int64(n)) }
func (c *circuitTracer) ReservationRequestHandled(st pbv2.Status) {
	if i := int(st); i >= 0 && i < statusSlots {
		c.reservationReqs[i].Add(1)
	}
}
func (c *circuitTracer) BytesTransferred(n int) { c.relayedBytes.Add(int64(n)) }

// circuitStatuses are the outcomes reported, as label values.
var circuitStatuses = []pbv2.Status{
	pbv2.Status_OK, pbv2.Status_RESERVATION_REFUSED, pbv2.Status_RESOURCE_LIMIT_EXCEEDED,
	pbv2.Status_PERMISSION_DENIED, pbv2.Status_CONNECTION_FAILED, pbv2.Status_NO_RESERVATION,
	pbv2.Status_MALFORMED_MESSAGE, pbv2.Status_UNEXPECTED_MESSAGE,
}

func statusLabel(st pbv2.Status) string { return strings.ToLower(st.String()) }

// register adds the circuit series to reg (zero when the service is off: c is nil).
func (c *circuitTracer) register(reg *prometheus.Registry) {
	load := func(f func(*circuitTracer) int64) func() float64 {
		return func() float64 {
			if c == nil {
				return 0
			}
			return float64(f(c))
		}
	}
	opts := func(name, help string) prometheus.GaugeOpts {
		return prometheus.GaugeOpts{Namespace: "petrel_relay", Subsystem: "circuit", Name: name, Help: help}
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(opts("reservations", "Circuit relay reservations held now."), load(func(c *circuitTracer) int64 { return c.reservations.Load() })),
		prometheus.NewGaugeFunc(opts("open", "Relayed circuits open now."), load(func(c *circuitTracer) int64 { return c.circuits.Load() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("opened_total", "Relayed circuits opened.")), load(func(c *circuitTracer) int64 { return c.opened.Load() })),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("relayed_bytes_total", "Bytes relayed through circuits (both directions).")), load(func(c *circuitTracer) int64 { return c.relayedBytes.Load() })),
	)
	for _, st := range circuitStatuses {
		label := prometheus.Labels{"status": statusLabel(st)}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "petrel_relay", Subsystem: "circuit",
			Name: "reservation_requests_total", Help: "Reservation requests answered, by status (ok, or why refused).", ConstLabels: label},
			load(func(c *circuitTracer) int64 { return c.reservationReqs[st].Load() })))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "petrel_relay", Subsystem: "circuit",
			Name: "connect_requests_total", Help: "Circuit (connect) requests answered, by status (ok, or why refused).", ConstLabels: label},
			load(func(c *circuitTracer) int64 { return c.circuitReqs[st].Load() })))
	}
}
