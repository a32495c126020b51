// Package metrics holds the server-wide Prometheus series (config
// reloads, certificate expiry, spool disk space); every package declares
// its own series in its metrics.go on the registry cmd/mailgate hands it,
// and package web serves that registry on /metrics.
package metrics

import (
	"crypto/x509"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Process are the series that belong to the server as a whole rather
// than to one package: config reloads, the TLS certificate's expiry and
// the spool disk's free space.
type Process struct {
	reloads       *prometheus.CounterVec
	reloadOK      prometheus.Gauge
	reloadSuccess prometheus.Gauge
}

// NewProcess registers the process-wide series on reg (nil: not
// registered). leaf returns the certificate served now (nil: none);
// spoolDir is the directory whose disk /readyz watches.
func NewProcess(reg prometheus.Registerer, leaf func() *x509.Certificate, spoolDir string) *Process {
	p := &Process{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailgate_config_reloads_total",
			Help: "Config reloads on SIGHUP, by result (success, failure: the old config kept running).",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailgate_config_last_reload_successful",
			Help: "1 if the last config reload worked (or none was tried), 0 if it was refused.",
		}),
		reloadSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mailgate_config_last_reload_success_timestamp_seconds",
			Help: "When the running config was loaded (start-up or the last good reload), as a Unix time.",
		}),
	}
	p.reloadOK.Set(1)
	p.reloadSuccess.SetToCurrentTime()
	if reg == nil {
		return p
	}
	for _, r := range []string{"success", "failure"} {
		p.reloads.WithLabelValues(r) // both series exist from the start, at 0
	}
	reg.MustRegister(p.reloads, p.reloadOK, p.reloadSuccess)
	certDesc := prometheus.NewDesc("mailgate_tls_certificate_expiry_timestamp_seconds",
		"NotAfter of the TLS certificate served now, as a Unix time.", nil, nil)
	reg.MustRegister(collector{desc: certDesc, collect: func(ch chan<- prometheus.Metric) {
		if c := leaf(); c != nil {
			ch <- prometheus.MustNewConstMetric(certDesc, prometheus.GaugeValue, float64(c.NotAfter.Unix()))
		}
	}})
	diskDesc := prometheus.NewDesc("mailgate_spool_disk_free_bytes",
		"Free bytes (for unprivileged users) on the disk holding the spool.", nil, nil)
	reg.MustRegister(collector{desc: diskDesc, collect: func(ch chan<- prometheus.Metric) {
		if free, err := FreeBytes(spoolDir); err == nil {
			ch <- prometheus.MustNewConstMetric(diskDesc, prometheus.GaugeValue, float64(free))
		}
	}})
	return p
}

// Reloaded records a reload's outcome.
func (p *Process) Reloaded(ok bool, at time.Time) {
	if !ok {
		p.reloads.WithLabelValues("failure").Inc()
		p.reloadOK.Set(0)
		return
	}
	p.reloads.WithLabelValues("success").Inc()
	p.reloadOK.Set(1)
	p.reloadSuccess.Set(float64(at.UnixNano()) / 1e9)
}

// FreeBytes is the space an unprivileged user may still write on dir's
// disk.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Clean(dir), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// collector computes its series at scrape time.
type collector struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
