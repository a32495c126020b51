package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"mailgate/config"
)

// ErrDown is returned without asking Redis while the store waits out its
// backoff after a failure, so that a dead Redis costs no session a
// timeout per command.
var ErrDown = errors.New("redis unavailable (waiting before the next try)")

// Backoff bounds between tries after Redis failed.
const (
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 15 * time.Second
)

// Redis is the shared store: one client (go-redis keeps a pool and
// redials), a timeout on every round trip, and after a failure a backoff
// during which callers get ErrDown at once. Each feature applies its own
// failure policy to an error.
type Redis struct {
	c       *redis.Client
	prefix  string
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	errs    *prometheus.CounterVec
	up      prometheus.Gauge

	mu      sync.Mutex
	down    bool
	retryAt time.Time
	backoff time.Duration
}

// OpenRedis makes the client; it does not connect until first used, so a
// node starts while Redis is down (the failure policies then apply).
func OpenRedis(cfg config.Redis, log *slog.Logger, reg prometheus.Registerer) (*Redis, error) {
	opts := &redis.Options{
		Addr: cfg.Address, Username: cfg.Username,
		DialTimeout: cfg.Timeout.D(), ReadTimeout: cfg.Timeout.D(), WriteTimeout: cfg.Timeout.D(),
		PoolTimeout: cfg.Timeout.D(), ContextTimeoutEnabled: true, MaxRetries: -1,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		opts.Password = strings.TrimSpace(string(b))
	}
	if cfg.TLS {
		host := cfg.Address[:strings.LastIndexByte(cfg.Address, ':')]
		opts.TLSConfig = &tls.Config{ServerName: strings.Trim(host, "[]"), MinVersion: tls.VersionTLS12}
	}
	r := &Redis{c: redis.NewClient(opts), prefix: cfg.KeyPrefix, timeout: cfg.Timeout.D(), log: log, now: time.Now}
	r.errs, r.up = newMetrics(reg)
	return r, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.c.Close() }

// Key is name under the configured prefix.
func (r *Redis) Key(name string) string { return r.prefix + name }

// Do runs f against Redis with the timeout, or returns ErrDown during a
// backoff; feature labels the error metric.
func (r *Redis) Do(feature string, f func(ctx context.Context, c *redis.Client) error) error {
	if !r.mayTry() {
		r.errs.WithLabelValues(feature).Inc()
		return ErrDown
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	err := f(ctx, r.c)
	if err != nil && !errors.Is(err, redis.Nil) {
		r.errs.WithLabelValues(feature).Inc()
		r.failed(feature, err)
		return err
	}
	r.succeeded()
	return nil
}

func (r *Redis) mayTry() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.down || !r.now().Before(r.retryAt)
}

// failed starts or lengthens the backoff; the first failure is logged.
func (r *Redis) failed(feature string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down {
		r.down, r.backoff = true, firstBackoff
		r.up.Set(0)
		r.log.Error("redis unavailable; shared limits use their failure policy", "feature", feature, "err", err)
	} else {
		r.backoff = min(2*r.backoff, maxBackoff)
	}
	r.retryAt = r.now().Add(r.backoff)
}

// succeeded ends a backoff, with a log line.
func (r *Redis) succeeded() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		r.down = false
		r.up.Set(1)
		r.log.Info("redis reachable again")
	}
}
