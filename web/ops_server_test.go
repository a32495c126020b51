package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"mailgate/metrics"
)

// serve runs s on a loopback port until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestOpsReadyzListsEveryFailedCheck: /readyz runs every check and names
// each one that fails with its reason.
func TestOpsReadyzListsEveryFailedCheck(t *testing.T) {
	t.Parallel()
	s := New(prometheus.NewRegistry(), "", quiet())
	fail := errors.New("boom")
	s.AddCheck(Check{Name: "a", Func: func(context.Context) error { return nil }})
	s.AddCheck(Check{Name: "b", Func: func(context.Context) error { return fail }})
	s.AddCheck(Check{Name: "c", Func: func(context.Context) error { return errors.New("not serving: mx") }})
	base := serve(t, s)
	if code, body := get(t, base+"/readyz", ""); code != 503 || body != "not ready\nb: boom\nc: not serving: mx\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	fail = nil
	if code, body := get(t, base+"/healthz", ""); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
}

// TestOpsAdminGuard: with a token, /admin/ needs it exactly; without
// one, loopback clients are let in.
func TestOpsAdminGuard(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "queue\n") })
	open := New(prometheus.NewRegistry(), "", quiet())
	open.Handle("/admin/queue", h)
	if code, body := get(t, serve(t, open)+"/admin/queue", ""); code != 200 || body != "queue\n" {
		t.Errorf("no token, loopback: %d %q", code, body)
	}
	guarded := New(prometheus.NewRegistry(), "s3cret", quiet())
	guarded.Handle("/admin/queue", h)
	base := serve(t, guarded)
	for _, tok := range []string{"", "wrong", "s3cret2"} {
		if code, body := get(t, base+"/admin/queue", tok); code != 401 || body != "admin API: missing or wrong bearer token (see http.token_file)\n" {
			t.Errorf("token %q: %d %q", tok, code, body)
		}
	}
	if code, _ := get(t, base+"/admin/queue", "s3cret"); code != 200 {
		t.Errorf("right token: %d", code)
	}
}

// TestOpsAutoconfigOnlyOnceSet: no autoconfig file until the server is
// given one; a later SetAutoconfig replaces it.
func TestOpsAutoconfigOnlyOnceSet(t *testing.T) {
	t.Parallel()
	s := New(prometheus.NewRegistry(), "", quiet())
	base := serve(t, s)
	if code, _ := get(t, base+"/mail/config-v1.1.xml", ""); code != 404 {
		t.Errorf("before SetAutoconfig: %d", code)
	}
	s.SetAutoconfig(ClientConfig{Domains: []string{"a.example"}})
	s.SetAutoconfig(ClientConfig{Domains: []string{"b.example"}, Incoming: []ClientServer{{Type: "imap", Hostname: "mx.b.example", Port: 993, Socket: "SSL"}}})
	code, body := get(t, base+"/.well-known/autoconfig/mail/config-v1.1.xml", "")
	if code != 200 || !strings.Contains(body, `<emailProvider id="b.example">`) ||
		!strings.Contains(body, "<incomingServer type=\"imap\">\n      <hostname>mx.b.example</hostname>\n      <port>993</port>\n      <socketType>SSL</socketType>") {
		t.Errorf("autoconfig: %d\n%s", code, body)
	}
}

// TestOpsProcessMetrics: certificate expiry is the leaf's NotAfter, no
// series without a certificate; reload outcomes move the counters and
// the last-reload gauges.
func TestOpsProcessMetrics(t *testing.T) {
	t.Parallel()
	notAfter := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	leaf := selfSigned(t, notAfter)
	var current *x509.Certificate
	reg := prometheus.NewRegistry()
	p := metrics.NewProcess(reg, func() *x509.Certificate { return current }, t.TempDir())
	if got := exposition(t, reg, "mailgate_tls_certificate_expiry_timestamp_seconds"); got != "" {
		t.Errorf("expiry series without a certificate:\n%s", got)
	}
	current = leaf
	want := "# HELP mailgate_tls_certificate_expiry_timestamp_seconds NotAfter of the TLS certificate served now, as a Unix time.\n" +
		"# TYPE mailgate_tls_certificate_expiry_timestamp_seconds gauge\n" +
		"mailgate_tls_certificate_expiry_timestamp_seconds 1.935817689e+09\n"
	if got := exposition(t, reg, "mailgate_tls_certificate_expiry_timestamp_seconds"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	p.Reloaded(false, time.Unix(100, 0))
	p.Reloaded(true, time.Unix(200, 0))
	p.Reloaded(false, time.Unix(300, 0))
	want = `# HELP mailgate_config_last_reload_success_timestamp_seconds When the running config was loaded (start-up or the last good reload), as a Unix time.
# TYPE mailgate_config_last_reload_success_timestamp_seconds gauge
mailgate_config_last_reload_success_timestamp_seconds 200
# HELP mailgate_config_last_reload_successful 1 if the last config reload worked (or none was tried), 0 if it was refused.
# TYPE mailgate_config_last_reload_successful gauge
mailgate_config_last_reload_successful 0
# HELP mailgate_config_reloads_total Config reloads on SIGHUP, by result (success, failure: the old config kept running).
# TYPE mailgate_config_reloads_total counter
mailgate_config_reloads_total{result="failure"} 2
mailgate_config_reloads_total{result="success"} 1
`
	if got := exposition(t, reg, "mailgate_config_reloads_total", "mailgate_config_last_reload_successful",
		"mailgate_config_last_reload_success_timestamp_seconds"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if free, err := metrics.FreeBytes(t.TempDir()); err != nil || free <= 0 {
		t.Errorf("FreeBytes: %d, %v", free, err)
	}
}

// exposition is the text format of the named families in reg, as
// /metrics shows them (families in name order).
func exposition(t *testing.T, reg *prometheus.Registry, names ...string) string {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range fams {
		for _, n := range names {
			if f.GetName() == n {
				expfmt.MetricFamilyToText(&b, f)
			}
		}
	}
	return b.String()
}

func selfSigned(t *testing.T, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.example"},
		NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
