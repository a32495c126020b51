package config

// Queue sets the retry schedule and delivery concurrency.
type Queue struct {
	// FirstRetry is the wait before the second attempt; later waits double
	// (with jitter) up to MaxRetryInterval.
	FirstRetry       Duration `yaml:"first_retry"`
	MaxRetryInterval Duration `yaml:"max_retry_interval"`
	// MaxAge is how long a message is retried before it bounces.
	MaxAge Duration `yaml:"max_age"`
	// DelayWarning is when the sender is told that a message is delayed
	// (0 disables the warning).
	DelayWarning Duration `yaml:"delay_warning"`
	// MaxConcurrent caps deliveries in flight; PerDestination caps them per
	// destination domain or host.
	MaxConcurrent  int `yaml:"max_concurrent"`
	PerDestination int `yaml:"per_destination"`
	// FinishedRetention is how long the final state of a finished
	// message (each recipient delivered, bounced or suppressed, with the
	// reply) is kept for GET /api/v1/messages/{id} and for matching late
	// bounces; 0 keeps none. FinishedMaxSize caps those records on disk:
	// past it the oldest go first.
	FinishedRetention Duration `yaml:"finished_retention"`
	FinishedMaxSize   Size     `yaml:"finished_max_size"`
}

func defaultQueue() Queue {
	return Queue{
		FirstRetry:       Duration(5 * 60e9),
		MaxRetryInterval: Duration(60 * 60e9),
		MaxAge:           Duration(5 * 24 * 3600e9),
		DelayWarning:     Duration(4 * 3600e9),
		MaxConcurrent:    100,
		PerDestination:   20,

		FinishedRetention: Duration(7 * 24 * 3600e9),
		FinishedMaxSize:   Size(1 << 30),
	}
}

func (q *Queue) validate(v *Validator) {
	if q.FirstRetry.D() < 1e9 {
		v.Errorf("queue.first_retry", "must be at least 1s; write a duration such as 5m")
	}
	if q.MaxRetryInterval < q.FirstRetry {
		v.Errorf("queue.max_retry_interval", "is shorter than queue.first_retry; write a duration such as 1h")
	}
	if q.MaxAge.D() < 60e9 {
		v.Errorf("queue.max_age", "must be at least 1m; write a duration such as 5d")
	}
	if q.MaxConcurrent < 1 {
		v.Errorf("queue.max_concurrent", "%d is not allowed; write a number of 1 or more", q.MaxConcurrent)
	}
	if q.PerDestination < 1 {
		v.Errorf("queue.per_destination", "%d is not allowed; write a number of 1 or more", q.PerDestination)
	}
	if q.FinishedMaxSize < 1<<20 {
		v.Errorf("queue.finished_max_size", "must be at least 1MB; write a size such as 1GB")
	}
}
