package webhook

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent, failed, expired, dropped prometheus.Counter
	pending                        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgate_webhook_sent_total",
			Help: "Webhook events the receiver answered with 2xx."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgate_webhook_failed_attempts_total",
			Help: "Webhook posts that failed (no answer or not 2xx); each is retried."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgate_webhook_expired_total",
			Help: "Webhook events given up after 24 hours of failed attempts."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "mailgate_webhook_dropped_total",
			Help: "Webhook events lost before the outbox: the outbox was not writable."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mailgate_webhook_pending",
			Help: "Webhook events in the outbox, not yet received."}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.failed, m.expired, m.dropped, m.pending)
	}
	return m
}
