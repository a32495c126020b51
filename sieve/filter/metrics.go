package filter

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the mailgate_sieve_* series.
type Metrics struct {
	runs     *prometheus.CounterVec
	actions  *prometheus.CounterVec
	errors   *prometheus.CounterVec
	vacation *prometheus.CounterVec
}

// NewMetrics registers the series on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_scripts_run_total",
			Help: "Sieve scripts run at local delivery, by result (ok, error: failed at run time and kept, broken: could not be loaded).",
		}, []string{"result"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_actions_total",
			Help: "Sieve actions carried out, by action (keep, fileinto, discard, redirect, reject, ereject, vacation).",
		}, []string{"action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_errors_total",
			Help: "Sieve actions that could not be carried out, by reason (redirect_loop, vacation_submit, vacation_record).",
		}, []string{"reason"}),
		vacation: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_sieve_vacation_total",
			Help: "Vacation replies, by result (sent, or the reason none was sent: null_sender, list, auto, not_addressed, already_answered, own_address).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.actions, m.errors, m.vacation)
	}
	return m
}

func (m *Metrics) run(result string) {
	if m != nil {
		m.runs.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) action(a string) {
	if m != nil {
		m.actions.WithLabelValues(a).Inc()
	}
}

func (m *Metrics) failure(reason string) {
	if m != nil {
		m.errors.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) vacationResult(result string) {
	if m != nil {
		m.vacation.WithLabelValues(result).Inc()
	}
}
