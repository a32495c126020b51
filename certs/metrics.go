package certs

import "github.com/prometheus/client_golang/prometheus"

// acmeMetrics count the work of the ACME client.
type acmeMetrics struct {
	orders *prometheus.CounterVec
}

// newACMEMetrics registers the series on reg (nil: not registered).
func newACMEMetrics(reg prometheus.Registerer) *acmeMetrics {
	m := &acmeMetrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_acme_orders_total",
			Help: "Certificates asked of the ACME CA, by result: issued (stored, renewals included), failed (an attempt that ended in an error; retried with backoff).",
		}, []string{"result"}),
	}
	for _, r := range []string{"issued", "failed"} {
		m.orders.WithLabelValues(r) // both series exist from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(m.orders)
	}
	return m
}
