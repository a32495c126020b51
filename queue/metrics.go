package queue

import "github.com/prometheus/client_golang/prometheus"

// metrics are the queue's Prometheus series.
type metrics struct {
	fsyncSeconds prometheus.Histogram
	batchSize    prometheus.Histogram
	broken       prometheus.Counter
}

// newMetrics registers on reg; a nil reg leaves them unregistered (tests).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailgate_queue_fsync_duration_seconds",
			Help:    "Time taken by each fsync of a spool file or the spool directory.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailgate_queue_commit_batch_messages",
			Help:    "Messages made durable by one group commit (one directory fsync).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		broken: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailgate_queue_broken_files_total",
			Help: "Spool files found unreadable at start and moved aside as .broken.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.fsyncSeconds, m.batchSize, m.broken)
	}
	return m
}
