package relay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the relay's Prometheus series; labels are bounded (listener
// names from the config, fixed stage and result names).
type metrics struct {
	connections  *prometheus.CounterVec
	sessions     *prometheus.CounterVec
	active       *prometheus.GaugeVec
	connRejected *prometheus.CounterVec
	accepted     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	auth         *prometheus.CounterVec
	msgBytes     prometheus.Histogram
	panics       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_connections_total", Help: "TCP connections accepted within the connection limits, per listener.",
		}, []string{"listener"}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_sessions_total", Help: "SMTP sessions started (EHLO/HELO), per listener.",
		}, []string{"listener"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailgate_smtp_sessions_active", Help: "SMTP sessions in progress, per listener.",
		}, []string{"listener"}),
		connRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_connections_rejected_total", Help: "Connections refused by connection limits.",
		}, []string{"listener", "limit"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_messages_accepted_total", Help: "Messages accepted into the queue, per listener.",
		}, []string{"listener"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_rejections_total", Help: "Commands rejected, per listener, SMTP stage and reply class (4xx/5xx).",
		}, []string{"listener", "stage", "class"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_smtp_auth_total", Help: "AUTH attempts per mechanism and result.",
		}, []string{"mechanism", "result"}),
		msgBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mailgate_smtp_message_size_bytes", Help: "Size of accepted messages.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_smtp_panics_total", Help: "Panics recovered in an SMTP connection (each a bug; the connection got 421).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.sessions, m.active, m.connRejected, m.accepted, m.rejected, m.auth, m.msgBytes, m.panics)
	}
	return m
}

func (m *metrics) reject(listener, stage string, code int) {
	m.rejected.WithLabelValues(listener, stage, fmt.Sprintf("%dxx", code/100)).Inc()
}
