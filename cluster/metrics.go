package cluster

import "github.com/prometheus/client_golang/prometheus"

// newMetrics makes and registers the Redis series (reg may be nil).
func newMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, prometheus.Gauge) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mailgate_cluster_redis_errors_total",
		Help: "Redis requests that failed or were not tried during the backoff, by feature; the feature's failure policy applied."}, []string{"feature"})
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mailgate_cluster_redis_up",
		Help: "1 while the last Redis request succeeded, 0 after a failure."})
	up.Set(1)
	if reg != nil {
		reg.MustRegister(errs, up)
	}
	return errs, up
}
