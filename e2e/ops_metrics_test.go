package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
)

// TestOpsMetricsMoveThroughDelivery pushes mail through the real binary
// (submission -> queue -> local mailbox, one AUTH failure, one refused
// recipient on the MX), reads /metrics over HTTP as Prometheus would, and
// checks that each counter moved by exactly what happened; then promtool
// lints the scrape.
func TestOpsMetricsMoveThroughDelivery(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"alice@localhost": "pw", "bob@localhost": "pw"}, "auth:\n  delay: 1ms\n")

	// One AUTH failure, on its own connection.
	c, err := smtp.DialStartTLS(srv.Addr["submission"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@localhost", "wrong")); err == nil {
		t.Fatal("AUTH with a wrong password succeeded")
	}
	c.Close()
	// One message submitted for a local user.
	body := []byte("From: alice@localhost\r\nTo: bob@localhost\r\nSubject: metrics\r\n\r\nhello\r\n")
	id := submit(t, srv, "alice@localhost", "pw", "alice@localhost", "bob@localhost", body)
	// "removed" comes after the result is recorded and the index updated.
	srv.WaitLog("msg=removed msgid=" + id)
	refuseRcpt(t, srv)

	s := scrapeMetrics(t, srv)
	want := []struct {
		name   string
		labels []string
		value  float64
	}{
		{"mailgate_smtp_connections_total", []string{"listener", "submission"}, 2},
		{"mailgate_smtp_connections_total", []string{"listener", "mx"}, 1},
		{"mailgate_smtp_auth_total", []string{"mechanism", "PLAIN", "result", "failure"}, 1},
		{"mailgate_smtp_auth_total", []string{"mechanism", "PLAIN", "result", "success"}, 1},
		{"mailgate_smtp_messages_accepted_total", []string{"listener", "submission"}, 1},
		{"mailgate_smtp_rejections_total", []string{"listener", "mx", "stage", "rcpt", "class", "5xx"}, 1},
		{"mailgate_smtp_message_size_bytes", nil, 1},
		{"mailgate_delivery_attempts_total", []string{"route", "local", "result", "delivered"}, 1},
		{"mailgate_queue_delivery_latency_seconds", nil, 1},
		{"mailgate_queue_recipients", []string{"state", "pending"}, 0},
		{"mailgate_queue_messages", nil, 0},
		{"mailgate_queue_oldest_message_age_seconds", nil, 0},
		{"mailgate_config_last_reload_successful", nil, 1},
		{"mailgate_config_reloads_total", []string{"result", "failure"}, 0},
	}
	for _, w := range want {
		got, ok := s.value(w.name, w.labels...)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	// Present, with values that depend on the machine.
	if v, ok := s.value("mailgate_queue_commit_batch_messages"); !ok || v < 1 {
		t.Errorf("mailgate_queue_commit_batch_messages count = %v (present %v), want >= 1", v, ok)
	}
	if v, ok := s.value("mailgate_queue_fsync_duration_seconds"); !ok || v < 1 {
		t.Errorf("mailgate_queue_fsync_duration_seconds count = %v (present %v), want >= 1", v, ok)
	}
	if v, ok := s.value("mailgate_tls_certificate_expiry_timestamp_seconds"); !ok || v < float64(time.Now().Unix()) {
		t.Errorf("certificate expiry = %v (present %v), want a future Unix time", v, ok)
	}
	if v, ok := s.value("mailgate_spool_disk_free_bytes"); !ok || v <= 0 {
		t.Errorf("mailgate_spool_disk_free_bytes = %v (present %v)", v, ok)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "mailgate_filters_verdicts_total"} {
		if s.families[name] == nil {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	if out := promtool(t, s.raw, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics complains:\n%s", out)
	}
}

// TestOpsDeployFilesMatchMetrics: the alerting rules pass promtool check
// rules, and every mailgate_ metric that the rules and the Grafana
// dashboard use is exported by the real binary. This run also has POP3
// and IMAP logins and an SMTP rejection, so promtool lints those series
// too.
func TestOpsDeployFilesMatchMetrics(t *testing.T) {
	t.Parallel()
	srv := opsServer(t, map[string]string{"alice@localhost": "pw", "bob@localhost": "pw"}, "auth:\n  delay: 1ms\n", "imap")
	body := []byte("From: alice@localhost\r\nTo: bob@localhost\r\nSubject: deploy\r\n\r\nhi\r\n")
	id := submit(t, srv, "alice@localhost", "pw", "alice@localhost", "bob@localhost", body)
	srv.WaitLog("msg=delivered msgid=" + id)
	// The events the dashboard's other panels show.
	failAuth(t, srv, "alice@localhost")
	failPOP3(t, srv)
	failIMAP(t, srv)
	refuseRcpt(t, srv)
	srv.WaitLog(`msg="pop3 login failed"`)
	srv.WaitLog(`msg="imap login failed"`)
	s := scrapeMetrics(t, srv)
	if out := promtool(t, s.raw, "check", "metrics"); strings.TrimSpace(out) != "" {
		t.Errorf("promtool check metrics complains:\n%s", out)
	}

	rules, err := os.ReadFile("../deploy/prometheus/mailgate-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if out := promtool(t, "", "check", "rules", "../deploy/prometheus/mailgate-alerts.yml"); !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	dash, err := os.ReadFile("../deploy/grafana/mailgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, name := range metricNames(string(rules) + "\n" + strings.Join(exprs, "\n")) {
		if s.families[name] == nil && s.families[histogramSuffix.ReplaceAllString(name, "")] == nil {
			t.Errorf("deploy files use %s, which /metrics does not export", name)
		}
	}
}

var histogramSuffix = regexp.MustCompile(`_(bucket|count|sum)$`)

// metricNames lists the mailgate_ names used in text.
func metricNames(text string) []string {
	seen := map[string]bool{}
	for _, n := range regexp.MustCompile(`mailgate_[a-z0-9_]+`).FindAllString(text, -1) {
		seen[n] = true
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// refuseRcpt has the MX refuse one recipient: no such local user.
func refuseRcpt(t *testing.T, srv *mgtest.Server) {
	t.Helper()
	mx, err := smtp.Dial(srv.Addr["smtp"])
	if err != nil {
		t.Fatal(err)
	}
	defer mx.Close()
	if err := mx.Mail("x@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	err = mx.Rcpt("nobody@localhost", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 {
		t.Fatalf("RCPT to an unknown local user: %v, want a 550 reply", err)
	}
	mx.Quit()
}
