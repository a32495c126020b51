package managesieve

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commands *prometheus.CounterVec
	logins   *prometheus.CounterVec
	refused  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_managesieve_commands_total",
			Help: "ManageSieve commands, by command and result (ok, no, bad).",
		}, []string{"command", "result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_managesieve_logins_total",
			Help: "ManageSieve logins, by result (ok, failed, locked).",
		}, []string{"result"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_sieve_managesieve_refused_connections_total",
			Help: "ManageSieve connections refused because the server had too many.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.commands, m.logins, m.refused)
	}
	return m
}
