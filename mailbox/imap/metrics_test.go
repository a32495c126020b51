package imap

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// TestCommandAndSessionMetrics: each command handled is counted under its
// name, and the active-sessions gauge follows the open connections.
func TestCommandAndSessionMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	env := startServer(t, func(o *Options) { o.Registerer = reg })
	c := env.login(t, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatal(err)
	}
	m := env.srv.metrics
	for cmd, want := range map[string]float64{"LOGIN": 1, "SELECT": 1, "LIST": 1, "FETCH": 0} {
		if got := value(t, m.commands.WithLabelValues(cmd)); got != want {
			t.Errorf("mailgate_imap_commands_total{command=%q} = %v, want %v", cmd, got, want)
		}
	}
	if got := value(t, m.active); got != 1 {
		t.Errorf("mailgate_imap_sessions_active = %v with one client, want 1", got)
	}
}
