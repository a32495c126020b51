package delivery

import (
	"github.com/prometheus/client_golang/prometheus"

	"mailgate/internal/mailmsg"
)

// Result labels.
const (
	resultDelivered = "delivered"
	resultDeferred  = "deferred"
	resultBounced   = "bounced"
)

// Metrics counts delivery outcomes and connection use. One Metrics is
// shared by every transport; a nil *Metrics counts nothing.
type Metrics struct {
	attempts    *prometheus.CounterVec
	connections *prometheus.CounterVec
	reuses      *prometheus.CounterVec
	tlsPolicy   *prometheus.CounterVec
	forwarded   *prometheus.CounterVec
}

// NewMetrics creates the counters and registers them on reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_delivery_attempts_total",
			Help: "Delivery attempts per recipient, by route (remote, smarthost, local) and result (delivered, deferred, bounced).",
		}, []string{"route", "result"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_delivery_connections_total",
			Help: "Outbound SMTP connections opened, by route and TLS use (none, unverified, verified).",
		}, []string{"route", "tls"}),
		reuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_delivery_connection_reuses_total",
			Help: "Messages sent over an already open connection, by route.",
		}, []string{"route"}),
		tlsPolicy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_delivery_tls_policy_total",
			Help: "Outcomes under a destination's TLS policy, by policy (sts, tlsa) and result (success or an RFC 8460 result type).",
		}, []string{"policy", "result"}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_delivery_forwarded_total",
			Help: "Copies that forwards sent on, by SRS (rewritten, kept, failed) and ARC (sealed, none, failed).",
		}, []string{"srs", "arc"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.connections, m.reuses, m.tlsPolicy, m.forwarded)
	}
	return m
}

func (m *Metrics) attempt(route string, err error) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(route, resultOf(err)).Inc()
}

func (m *Metrics) connection(route, tls string) {
	if m == nil {
		return
	}
	m.connections.WithLabelValues(route, tls).Inc()
}

func (m *Metrics) policyOutcome(policy, result string) {
	if m == nil {
		return
	}
	if result == "" {
		result = "success"
	}
	m.tlsPolicy.WithLabelValues(policy, result).Inc()
}

func (m *Metrics) reuse(route string) {
	if m == nil {
		return
	}
	m.reuses.WithLabelValues(route).Inc()
}

func (m *Metrics) forward(srs, arc string) {
	if m == nil {
		return
	}
	m.forwarded.WithLabelValues(srs, arc).Inc()
}

// resultOf names an outcome for metrics and logs.
func resultOf(err error) string {
	if err == nil {
		return resultDelivered
	}
	if e, ok := err.(*mailmsg.Error); ok && e.Permanent {
		return resultBounced
	}
	return resultDeferred
}
