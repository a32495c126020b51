package delivery

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
	"mailgate/resolver"
)

var fast = Timeouts{Connect: 2 * time.Second, Greeting: 2 * time.Second, Mail: 2 * time.Second,
	Rcpt: 2 * time.Second, DataInit: 2 * time.Second, DataBlock: 2 * time.Second, DataEnd: 2 * time.Second}

// logBuf collects log lines for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newRemote returns a Remote that asks dns and connects to port.
func newRemote(t *testing.T, dns *dnstest.Server, port int) (*Remote, *logBuf, *prometheus.Registry) {
	t.Helper()
	logs := &logBuf{}
	reg := prometheus.NewRegistry()
	r := &Remote{
		Resolver: resolver.New(dns.Addr), Hostname: "out.mailgate.test", Port: port,
		Timeouts: fast, IdleTimeout: time.Minute, MaxIdlePerHost: 2,
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
		Metrics: NewMetrics(reg),
	}
	t.Cleanup(r.Close)
	return r, logs, reg
}

func request(id string, rcpts ...string) *mailmsg.Attempt {
	req := &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: id, From: "sender@src.test"}, Body: []byte("From: sender@src.test\r\nSubject: hi\r\n\r\nhello\r\n")}
	for _, r := range rcpts {
		req.Recipients = append(req.Recipients, mailmsg.Recipient{Addr: r})
	}
	return req
}

// wantErr checks a result's error fields; a zero want means delivered.
func wantErr(t *testing.T, got mailmsg.Result, want mailmsg.Error) {
	t.Helper()
	if want.Code == 0 {
		if got.Err != nil {
			t.Errorf("%s: got %v, want delivered", got.Rcpt, got.Err)
		}
		return
	}
	var e *mailmsg.Error
	if !errors.As(got.Err, &e) {
		t.Fatalf("%s: got %v, want *mailmsg.Error", got.Rcpt, got.Err)
	}
	if e.Permanent != want.Permanent || e.Code != want.Code || e.Enhanced != want.Enhanced || e.Command != want.Command {
		t.Errorf("%s: got permanent=%v code=%d enhanced=%s command=%s (%v), want %v %d %s %s",
			got.Rcpt, e.Permanent, e.Code, e.Enhanced, e.Command, e, want.Permanent, want.Code, want.Enhanced, want.Command)
	}
	if want.RemoteLine != "" && e.RemoteLine != want.RemoteLine {
		t.Errorf("%s: RemoteLine = %q, want %q", got.Rcpt, e.RemoteLine, want.RemoteLine)
	}
	if want.RemoteMTA != "" && e.RemoteMTA != want.RemoteMTA {
		t.Errorf("%s: RemoteMTA = %q, want %q", got.Rcpt, e.RemoteMTA, want.RemoteMTA)
	}
	if want.Reason != "" && !strings.Contains(e.Reason, want.Reason) {
		t.Errorf("%s: Reason = %q, want it to contain %q", got.Rcpt, e.Reason, want.Reason)
	}
}

// dualStack starts good on 127.0.0.1:P and, when other is non-nil,
// other on [::1]:P, so that two MX hosts share the port override.
func dualStack(t *testing.T, v4, v6 smtptest.Config) (*smtptest.Server, *smtptest.Server) {
	t.Helper()
	needIPv6(t)
	for range 20 {
		ln4, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln4.Addr().(*net.TCPAddr).Port
		ln6, err := net.Listen("tcp", "[::1]:"+strconv.Itoa(port))
		if err != nil {
			ln4.Close()
			continue
		}
		return smtptest.Serve(t, ln4, v4), smtptest.Serve(t, ln6, v6)
	}
	t.Fatal("no port free on both 127.0.0.1 and ::1")
	return nil, nil
}

// counter reads a counter's value.
func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// needIPv6 skips a test on a machine without an IPv6 loopback.
func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}
