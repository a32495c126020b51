package imap

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	connections *prometheus.CounterVec
	logins      *prometheus.CounterVec
	closed      *prometheus.CounterVec
	panics      prometheus.Counter
	commands    *prometheus.CounterVec
	active      prometheus.Gauge
	open        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_connections_total",
			Help: "IMAP connections by result: accepted, refused (over imap_max_connections), refused_per_ip (over imap_max_connections_per_ip).",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_logins_total",
			Help: "IMAP logins by result: ok, failed, locked (address or account locked out after too many failures), user_ip_limit (over imap_max_user_ip_connections), error.",
		}, []string{"result"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_refusals_total",
			Help: "IMAP connections closed by the server, by reason: account_inactive (the account was disabled or removed while the session was open), literal, login_failures, login_timeout (no login within imap_login_timeout), protocol (bare CR or overlong line in a command).",
		}, []string{"reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_imap_commands_total",
			Help: "IMAP commands handled, by command (UID variants count under the base command; NOOP includes CHECK).",
		}, []string{"command"}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailgate_imap_sessions_active",
			Help: "IMAP connections being served.",
		}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailgate_imap_connections_open",
			Help: "IMAP connections open now, by state: unauthenticated (not logged in yet), authenticated.",
		}, []string{"state"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_imap_panics_total",
			Help: "IMAP connections ended by a recovered panic.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.logins, m.closed, m.panics, m.commands, m.active, m.open)
	}
	return m
}
