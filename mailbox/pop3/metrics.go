package pop3

import "github.com/prometheus/client_golang/prometheus"

// commandNames bounds the command label: anything else counts as "unknown".
var commandNames = map[string]bool{
	"CAPA": true, "USER": true, "PASS": true, "AUTH": true, "STLS": true,
	"STAT": true, "LIST": true, "RETR": true, "DELE": true, "NOOP": true,
	"RSET": true, "QUIT": true, "UIDL": true, "TOP": true,
}

// metrics are the server's Prometheus collectors. Every label has a fixed,
// small set of values.
type metrics struct {
	sessions     *prometheus.CounterVec // label tls: "implicit", "none"
	active       prometheus.Gauge
	open         *prometheus.GaugeVec   // label state: "unauthenticated", "authenticated"
	commands     *prometheus.CounterVec // label command
	authFailures *prometheus.CounterVec // label mechanism: "user", "plain"
	deleted      prometheus.Counter
	retrBytes    prometheus.Counter
	panics       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_pop3_sessions_total",
			Help: "POP3 connections accepted, by whether the listener uses implicit TLS.",
		}, []string{"tls"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailgate_pop3_sessions_active",
			Help: "POP3 connections open now.",
		}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailgate_pop3_connections_open",
			Help: "POP3 connections open now, by state: unauthenticated (not logged in yet), authenticated.",
		}, []string{"state"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_pop3_commands_total",
			Help: "POP3 commands received, by command (unknown for anything else).",
		}, []string{"command"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_pop3_auth_failures_total",
			Help: "Failed POP3 logins, by mechanism (user for USER/PASS, plain for AUTH PLAIN).",
		}, []string{"mechanism"}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_pop3_deleted_messages_total",
			Help: "Messages removed from maildrops at QUIT.",
		}),
		retrBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_pop3_retrieved_bytes_total",
			Help: "Message octets sent by RETR and TOP, before dot-stuffing.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_pop3_panics_total",
			Help: "POP3 sessions ended by a recovered panic (a bug).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.active, m.open, m.commands, m.authFailures,
			m.deleted, m.retrBytes, m.panics)
	}
	return m
}

func (m *metrics) command(name string) {
	if !commandNames[name] {
		name = "unknown"
	}
	m.commands.WithLabelValues(name).Inc()
}
