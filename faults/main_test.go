// Package faults breaks things around the real mailgate binary and checks
// that mail survives: SIGKILL at random moments during a submission
// burst, remote servers that drop, stall or tempfail, DNS that fails,
// a full spool disk, a thousand idle connections and a slowloris client.
// Remote servers are internal/smtptest sinks found through a real DNS
// server on loopback (internal/dnstest); the binary runs under
// internal/mgtest.
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
	"mailgate/queue"
)

func TestMain(m *testing.M) { mgtest.Main(m) }

const (
	user    = "app@localhost"
	pass    = "fault-pw"
	sinkRcp = "sink@sink.test"
)

// fastRetry makes deferred mail come back within a second, and keeps the
// remote timeouts short so that a stalled remote is given up quickly.
const fastRetry = "queue:\n  first_retry: 1s\n  max_retry_interval: 1s\n"

const shortTimeouts = "  timeouts:\n    connect: 2s\n    greeting: 2s\n    mail: 2s\n    rcpt: 2s\n" +
	"    data_init: 2s\n    data_block: 2s\n    data_end: 2s\n"

// sinkWorld is a mailgate that delivers mail for sink.test to an
// smtptest sink through a loopback DNS server.
type sinkWorld struct {
	srv  *mgtest.Server
	sink *smtptest.Server
	dns  *dnstest.Server
}

// startSinkWorld starts the DNS server, the sink (with cfg) and mailgate
// (submission listeners, admin HTTP, fast retries, short timeouts).
func startSinkWorld(t *testing.T, cfg smtptest.Config, extra string) *sinkWorld {
	t.Helper()
	w := &sinkWorld{sink: smtptest.Start(t, cfg)}
	w.dns = dnstest.Start(t, "sink.test. 300 IN MX 10 mx.sink.test.", "mx.sink.test. 300 IN A 127.0.0.1")
	w.srv = mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp", "submission", "submissions", "http"},
		Users:     map[string]string{user: pass},
		DNS:       w.dns.Addr,
		Delivery:  fmt.Sprintf("  port: %d\n", w.sink.Port()) + shortTimeouts,
		Config:    fastRetry + extra,
	})
	return w
}

// dialSubmission logs in over implicit TLS.
func dialSubmission(srv *mgtest.Server) (*smtp.Client, error) {
	c, err := smtp.DialTLS(srv.Addr["submissions"], srv.ClientTLS())
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

var queuedRE = regexp.MustCompile(`^2\.0\.0 OK: queued as ([0-9a-f]+)$`)

// sendOne sends msg on c and returns the queue ID from the 250 reply.
func sendOne(c *smtp.Client, to, msg string) (string, error) {
	if err := c.Mail(user, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return "", err
	}
	wc, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := wc.Write([]byte(msg)); err != nil {
		return "", err
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		return "", err
	}
	m := queuedRE.FindStringSubmatch(resp.StatusText)
	if m == nil {
		return "", fmt.Errorf("250 without a queue ID: %q", resp.StatusText)
	}
	return m[1], nil
}

// submit sends one message and fails the test on any error.
func submit(t *testing.T, srv *mgtest.Server, to, msg string) string {
	t.Helper()
	c, err := dialSubmission(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id, err := sendOne(c, to, msg)
	if err != nil {
		t.Fatalf("submission: %v", err)
	}
	return id
}

// faultMessage carries a token that identifies it at the sink.
func faultMessage(token string, lines int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: fault %s\r\nX-Fault-Token: %s\r\n\r\n", user, sinkRcp, token, token)
	for i := range lines {
		fmt.Fprintf(&b, "line %d of %s: the quick brown fox jumps over the lazy dog\r\n", i, token)
	}
	return b.String()
}

var tokenRE = regexp.MustCompile(`(?m)^X-Fault-Token: (\S+)\r$`)

// tokens counts the messages the sink got, by token.
func tokens(msgs []smtptest.Message) map[string]int {
	n := map[string]int{}
	for _, m := range msgs {
		if t := tokenRE.FindSubmatch(m.Raw); t != nil {
			n[string(t[1])]++
		}
	}
	return n
}

// dotUnstuff turns the sink's raw DATA bytes into the message: the final
// ".\r\n" removed and leading dots unstuffed.
func dotUnstuff(raw []byte) []byte {
	raw = bytes.TrimSuffix(raw, []byte(".\r\n"))
	lines := bytes.SplitAfter(raw, []byte("\r\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, []byte("..")) {
			lines[i] = l[1:]
		}
	}
	return bytes.Join(lines, nil)
}

// queueList runs `mailgate queue list --json`, as an operator would.
func queueList(t *testing.T, srv *mgtest.Server) []queue.MessageInfo {
	t.Helper()
	out, code := srv.Run("", "queue", "list", "--json", "-config", srv.ConfigPath)
	if code != 0 {
		t.Fatalf("mailgate queue list: exit %d: %s", code, out)
	}
	var list []queue.MessageInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("queue list --json: %v\n%s", err, out)
	}
	return list
}

// waitLogCount waits until the server's log holds n lines containing
// substr; mgtest's WaitLog signals only the first one, so the log is
// checked each time a short ticker fires, up to mgtest.Timeout.
func waitLogCount(t *testing.T, srv *mgtest.Server, substr string, n int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for strings.Count(srv.Logs(), substr) < n {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d log lines with %q after %v, want %d", strings.Count(srv.Logs(), substr), substr, mgtest.Timeout, n)
		}
	}
}

// waitQueueEmpty waits until `mailgate queue list` shows nothing.
func waitQueueEmpty(t *testing.T, srv *mgtest.Server) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(mgtest.Timeout)
	for {
		list := queueList(t, srv)
		if len(list) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("queue still holds %d messages after %v: %+v", len(list), mgtest.Timeout, list[0])
		}
	}
}

// figures collects the numbers TESTING.md reports; each test logs its
// own line so that `go test -v ./faults/ | grep FIGURES` gathers them.
var figures sync.Mutex

func report(t *testing.T, format string, args ...any) {
	figures.Lock()
	defer figures.Unlock()
	t.Logf("FIGURES %s: "+format, append([]any{t.Name()}, args...)...)
}

// mgtestTimeout bounds waits for the sink.
const mgtestTimeout = mgtest.Timeout

// smtptestPolite is a sink that accepts everything.
func smtptestPolite() smtptest.Config { return smtptest.Config{} }
