package filters

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the filter chain's counters. Labels are bounded: filter names
// and results come from the Registry's rows, actions from the fixed set.
type Metrics struct {
	verdicts   *prometheus.CounterVec
	errors     *prometheus.CounterVec
	signatures *prometheus.CounterVec
	// dnsblLookups counts the dnsbl filter's DNS queries by list zone
	// (from the config) and result (listed, clean, error).
	dnsblLookups *prometheus.CounterVec
}

// NewMetrics makes the filter metrics and registers them on reg (nil: not
// registered). Chains built on the same registerer share the counters.
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
		dnsblLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_filters_dnsbl_lookups_total",
			Help: "DNS blocklist queries of the dnsbl filter, by list zone and result (listed, clean, error); answers reused from its cache are not counted.",
		}, []string{"zone", "result"}),
	}
	if reg != nil {
		m.verdicts = register(reg, m.verdicts)
		m.errors = register(reg, m.errors)
		m.signatures = register(reg, m.signatures)
		m.dnsblLookups = register(reg, m.dnsblLookups)
	}
	return m
}

// register registers c, or returns the collector already registered under
// its name, so that chains built for several listeners on one registerer
// share their counters instead of panicking.
func register(reg prometheus.Registerer, c *prometheus.CounterVec) *prometheus.CounterVec {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	if err != nil {
		panic(err) // a name clash with another package's metric: a programming error
	}
	return c
}
