package queue

import "github.com/prometheus/client_golang/prometheus"

// metrics are the queue's Prometheus series.
type metrics struct {
	fsyncSeconds    prometheus.Histogram
	batchSize       prometheus.Histogram
	broken          prometheus.Counter
	deliveryLatency prometheus.Histogram
	reports         *prometheus.CounterVec
}

// newMetrics registers on reg; a nil reg leaves them unregistered (tests).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailgate_queue_fsync_duration_seconds",
			Help:    "Time taken by each flush of the spool: a syncfs per group commit on Linux, else an fsync of a spool file or the directory.",
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
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mailgate_queue_delivery_latency_seconds",
			Help:    "Time from acceptance to successful delivery, per recipient.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 14400, 86400},
		}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_queue_dsn_sent_total",
			Help: "Delivery status notifications generated, per action (failed, delayed, delivered).",
		}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.fsyncSeconds, m.batchSize, m.broken, m.deliveryLatency, m.reports)
	}
	return m
}

// registerGauges exports queue size per state and the oldest message's
// age, computed when Prometheus scrapes.
func (q *Queue) registerGauges(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	states := []string{StatePending, StateDeferred, StateHeld}
	desc := prometheus.NewDesc("mailgate_queue_recipients", "Recipients in the queue, per state.", []string{"state"}, nil)
	reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		counts := q.countByState()
		for _, s := range states {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[s]), s)
		}
	}})
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mailgate_queue_messages", Help: "Messages in the queue.",
	}, func() float64 {
		q.mu.Lock()
		defer q.mu.Unlock()
		return float64(len(q.msgs))
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mailgate_queue_oldest_message_age_seconds", Help: "Age of the oldest message in the queue (0 when empty).",
	}, q.oldestAge))
}

func (q *Queue) oldestAge() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var oldest float64
	now := q.now()
	for _, m := range q.msgs {
		if a := now.Sub(m.env.Received).Seconds(); a > oldest {
			oldest = a
		}
	}
	return oldest
}

type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
