package filters

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the filter chain's counters. Labels are bounded: filter names
// and results come from config.FilterResults, actions from the fixed set.
type Metrics struct {
	verdicts   *prometheus.CounterVec
	errors     *prometheus.CounterVec
	signatures *prometheus.CounterVec
}

// NewMetrics makes the filter metrics and registers them on reg (nil: not
// registered). Make one per process and share it through Deps.Metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_filters_verdicts_total",
			Help: "Filter verdicts, by filter, result and the action taken.",
		}, []string{"filter", "result", "action"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_filters_errors_total",
			Help: "Internal filter errors answered with a generic 451.",
		}, []string{"filter"}),
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_filters_dkim_signatures_total",
			Help: "DKIM signatures added, by algorithm (rsa, ed25519, or none when no key matched).",
		}, []string{"algorithm"}),
	}
	if reg != nil {
		reg.MustRegister(m.verdicts, m.errors, m.signatures)
	}
	return m
}
