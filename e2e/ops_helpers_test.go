package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// opsServer starts mailgate with an MX, a submission, a POP3 and an
// HTTP listener, the users given, and extra YAML (top-level keys). The
// listeners run the filters a real installation would (ratelimit on
// both, sender_policy on submission), which mgtest's generated config
// leaves out, so the config is rewritten and the server restarted once.
//
// more adds listeners of other protocols (such as imap), each named
// after its protocol.
func opsServer(t *testing.T, users map[string]string, extra string, more ...string) *mgtest.Server {
	t.Helper()
	protos := append([]string{"smtp", "submission", "pop3", "http"}, more...)
	srv := mgtest.Start(t, mgtest.Options{Protocols: protos, Users: users})
	if code := srv.Stop(); code != 0 {
		t.Fatalf("first stop: exit %d", code)
	}
	writeOpsConfig(t, srv, extra)
	srv.Restart()
	return srv
}

// writeOpsConfig writes srv's config with the listeners of opsServer.
func writeOpsConfig(t *testing.T, srv *mgtest.Server, extra string) {
	t.Helper()
	cfg := fmt.Sprintf(`hostname: %s
data_dir: %s
local_domains: [localhost]
listeners:
  - name: mx
    protocol: smtp
    address: %s
    filters: [ratelimit]
  - name: submission
    protocol: submission
    address: %s
    filters: [ratelimit, sender_policy]
  - name: pop3
    protocol: pop3
    address: %s
  - name: http
    protocol: http
    address: %s
%s%s`, srv.Hostname, srv.DataDir, srv.Addr["smtp"], srv.Addr["submission"], srv.Addr["pop3"], srv.Addr["http"], moreListeners(srv), extra)
	if err := os.WriteFile(srv.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// moreListeners are the listeners opsServer's more added.
func moreListeners(srv *mgtest.Server) string {
	var b strings.Builder
	for _, p := range []string{"imap", "imaps", "pop3s", "submissions"} {
		if a := srv.Addr[p]; a != "" {
			fmt.Fprintf(&b, "  - name: %s\n    protocol: %s\n    address: %s\n", p, p, a)
		}
	}
	return b.String()
}

// pidOf returns the running server's process ID from its ready line.
func pidOf(t *testing.T, srv *mgtest.Server) int {
	t.Helper()
	m := regexp.MustCompile(` pid=(\d+)`).FindStringSubmatch(srv.WaitLog(" msg=ready"))
	if m == nil {
		t.Fatal("ready line has no pid=")
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func signalServer(t *testing.T, srv *mgtest.Server, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(pidOf(t, srv), sig); err != nil {
		t.Fatal(err)
	}
}

// httpGet fetches path from the HTTP listener: status and body.
func httpGet(t *testing.T, srv *mgtest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr["http"] + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics as Prometheus would.
type scrape struct {
	raw      string
	families map[string]*dto.MetricFamily
}

func scrapeMetrics(t *testing.T, srv *mgtest.Server) scrape {
	t.Helper()
	code, body := httpGet(t, srv, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return scrape{raw: body, families: fams}
}

// value is the series of name with exactly the labels given (counter,
// gauge, or a histogram's count); ok is false if there is none.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s.families[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		for _, l := range m.Label {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// promtool runs `promtool ARGS...` with stdin and fails the test on a
// non-zero exit, showing what promtool said.
func promtool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.Tool(t, "promtool"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// submit sends one message over submission (STARTTLS, AUTH PLAIN) and
// returns the queue ID from the 250 reply.
func submit(t *testing.T, srv *mgtest.Server, user, pass, from, to string, body []byte) string {
	t.Helper()
	c, err := smtp.DialStartTLS(srv.Addr["submission"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	return sendOn(t, c, from, to, body)
}

// sendOn runs one transaction on c and returns the queue ID.
func sendOn(t *testing.T, c *smtp.Client, from, to string, body []byte) string {
	t.Helper()
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	w.Write(body)
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	id, ok := strings.CutPrefix(resp.StatusText, "2.0.0 OK: queued as ")
	if !ok {
		t.Fatalf("250 reply %q has no queue ID", resp.StatusText)
	}
	return id
}
