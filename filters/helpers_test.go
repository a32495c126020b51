package filters

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"mailgate/config"
)

// writeKey makes a DKIM key file in a temp dir and returns its path.
func writeKey(t testing.TB, algo string) string {
	t.Helper()
	_, pemData, err := GenerateDKIMKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), algo+".pem")
	if err := os.WriteFile(p, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// testConfig parses a config whose only listener runs filters, with
// filtersYAML as the filters block (may be empty).
func testConfig(t testing.TB, filters []string, filtersYAML string) *config.Config {
	t.Helper()
	y := "hostname: mx.example.org\nlisteners:\n  - name: test\n    protocol: smtp\n    address: 127.0.0.1:2525\n    filters: [" +
		strings.Join(filters, ", ") + "]\n" + filtersYAML
	c, err := config.Parse("test.yaml", []byte(y), Builtin())
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

// newChain builds the chain of the config's only listener.
func newChain(t testing.TB, c *config.Config, deps Deps) *Chain {
	t.Helper()
	ch, err := New(c, c.Listeners[0], deps)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// transact runs one whole transaction and returns the first reply line
// ("" when accepted) and the message as it would be queued.
func transact(t testing.TB, ch *Chain, conn *Conn, from string, rcpts []string, raw string) (string, *Message) {
	t.Helper()
	ctx := context.Background()
	txn := ch.Begin(ctx, conn)
	defer txn.Close()
	if err := txn.Mail(ctx, from); err != nil {
		return replyLine(t, err), nil
	}
	for _, r := range rcpts {
		if err := txn.Rcpt(ctx, r); err != nil {
			return replyLine(t, err), nil
		}
	}
	msg := NewMessage(from, rcpts, []byte(crlf(raw)))
	if err := txn.Data(ctx, msg); err != nil {
		return replyLine(t, err), nil
	}
	txn.Reset()
	return "", msg
}

// replyLine renders an error as the client sees it; anything but an
// *smtp.SMTPError fails the test.
func replyLine(t testing.TB, err error) string {
	t.Helper()
	se, ok := err.(*smtp.SMTPError)
	if !ok {
		t.Fatalf("error %T %v is not an *smtp.SMTPError", err, err)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
}

// crlf turns LF line ends into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// final returns the message as the queue stores it.
func final(m *Message) string {
	b, _ := io.ReadAll(bodyReader(m.Body))
	return string(m.Prepend) + string(m.Header) + string(b)
}

// txtRecord renders a zone line for a TXT value of any length.
func txtRecord(name, value string) string {
	var parts []string
	for len(value) > 200 {
		parts = append(parts, strconv.Quote(value[:200]))
		value = value[200:]
	}
	parts = append(parts, strconv.Quote(value))
	return dns.Fqdn(name) + " 300 IN TXT " + strings.Join(parts, " ")
}

// testLogger sends the chain's log lines to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// metricValue returns the counter name of reg with the labels given as
// name, value pairs (and perhaps others); 0 when there is none.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if l[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
