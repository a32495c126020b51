package relay_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/accounts"
	"mailgate/certs"
	"mailgate/config"
	"mailgate/filters"
	"mailgate/internal/mailmsg"
	"mailgate/queue"
	"mailgate/relay"
)

// The test installation: one local domain with two accounts.
const (
	hostname = "mail.example.com"
	alice    = "alice@example.com"
	bob      = "bob@example.com"
	bobAlias = "robert@example.com"
	password = "correct horse battery staple"
)

// baseConfig is small on purpose, so that every limit is easy to reach.
// Listener addresses are placeholders: the harness listens on free ports.
const baseConfig = `
hostname: mail.example.com
local_domains: [example.com]
limits:
  max_message_size: 4KB
  max_recipients: 3
  max_line_length: 1000
  max_connections: 20
  max_connections_per_ip: 20
auth:
  max_failures: 3
  window: 10m
  lockout: 1h
  delay: 1ms
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:1
  - name: submission
    protocol: submission
    address: 127.0.0.1:2
  - name: submissions
    protocol: submissions
    address: 127.0.0.1:3
`

// start is the date every test server believes it is (the Received
// header's date and the AUTH lockout are read from this clock).
var start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a settable time source for relay.Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects the server's log for assertions and failure output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testServer is a real relay.Server on 127.0.0.1 with a real account
// database, a real spool and a self-signed certificate, all in t.TempDir.
type testServer struct {
	t     testing.TB
	cfg   *config.Config
	srv   *relay.Server
	queue *queue.Queue
	addr  map[string]string // listener name -> 127.0.0.1:port
	tls   *tls.Config       // client side: trusts the server's certificate
	clock *clock
	logs  *logBuffer
}

// startServer runs the relay with baseConfig, changed by edit (may be nil).
func startServer(t testing.TB, edit func(*config.Config)) *testServer {
	t.Helper()
	return startServerTLS(t, edit, nil, "")
}

// startServerTLS is startServer with the server's TLS config and the
// certificate file clients trust given (nil, "": a generated one).
func startServerTLS(t testing.TB, edit func(*config.Config), serverTLS *tls.Config, certFile string) *testServer {
	t.Helper()
	return startServerQuotas(t, edit, serverTLS, certFile, nil)
}

// startServerQuotas is startServerTLS with the mailbox usage the relay
// reads (nil: no quotas).
func startServerQuotas(t testing.TB, edit func(*config.Config), serverTLS *tls.Config, certFile string, quotas relay.Quotas) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(baseConfig+"data_dir: "+dir+"\n"), filters.Builtin())
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	if edit != nil {
		edit(cfg)
	}
	ts := &testServer{t: t, cfg: cfg, addr: map[string]string{}, clock: &clock{t: start}, logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs)
		}
	})

	accts, err := accounts.OpenAccounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []accounts.Account{{Address: alice}, {Address: bob, Aliases: []string{bobAlias}}} {
		if err := accts.Add(a, password); err != nil {
			t.Fatal(err)
		}
	}
	if serverTLS == nil {
		cm, _, err := certs.SelfSigned(filepath.Join(dir, "tls"), hostname)
		if err != nil {
			t.Fatal(err)
		}
		serverTLS, certFile = cm.TLSConfig(), filepath.Join(dir, "tls", "selfsigned.crt")
	}
	ts.tls = clientTLS(t, certFile)
	q, err := queue.Open(queue.Options{Dir: filepath.Join(dir, "queue"), Logger: log, Now: ts.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts.queue = q
	ts.srv = relay.New(relay.Options{
		Config: cfg, TLS: serverTLS, Users: accts, Queue: q, Logger: log, Now: ts.clock.Now, Quotas: quotas,
		Chains: chains(t, cfg, filters.Deps{Logger: log, SendAs: accts.SendAs, Now: ts.clock.Now}),
	})

	var wg sync.WaitGroup
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ts.addr[l.Name] = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ts.srv.Serve(l, ln); err != nil {
				t.Errorf("Serve(%s): %v", l.Name, err)
			}
		}()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
		wg.Wait()
		q.Close()
	})
	return ts
}

// chains builds the filter chain of every listener that lists filters.
func chains(t testing.TB, cfg *config.Config, deps filters.Deps) map[string]*filters.Chain {
	t.Helper()
	out := map[string]*filters.Chain{}
	deps.RateLimits = filters.NewRateLimits(filters.RateLimitSettings(cfg), deps.Now)
	for _, l := range cfg.Listeners {
		if len(l.Filters) == 0 {
			continue
		}
		c, err := filters.New(cfg, l, deps)
		if err != nil {
			t.Fatal(err)
		}
		out[l.Name] = c
	}
	return out
}

// clientTLS trusts exactly the server's self-signed certificate.
func clientTLS(t testing.TB, certFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("cannot parse the server certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: hostname}
}

// spooled returns the envelope and message the queue holds for id.
func (ts *testServer) spooled(id string) (*mailmsg.Envelope, []byte) {
	ts.t.Helper()
	env, raw, err := ts.queue.Spool().ReadMessage(id)
	if err != nil {
		ts.t.Fatalf("message %s is not in the spool: %v", id, err)
	}
	return env, raw
}

// spoolFiles lists every file in the spool directory.
func (ts *testServer) spoolFiles() []string {
	ts.t.Helper()
	entries, err := os.ReadDir(ts.queue.Spool().Dir())
	if err != nil {
		ts.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() == "lock" || e.Name() == "finished" {
			continue // the spool's lock and its finished-records dir, not messages
		}
		names = append(names, e.Name())
	}
	return names
}

// wire is a raw SMTP client: it writes exactly the bytes a test gives and
// reads replies verbatim, for what go-smtp's client refuses to send (bare
// LF, pipelined STARTTLS, overlong lines) and for exact reply lines.
type wire struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

// replyTimeout bounds every read, so a server that never answers fails
// the test instead of hanging it.
const replyTimeout = 10 * time.Second

// dial connects and returns the connection with the greeting read.
func dial(t testing.TB, addr string) (*wire, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	return w, w.reply()
}

// dialTLS connects with implicit TLS (the submissions listener).
func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*wire, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{t: t, conn: c, r: bufio.NewReader(c)}
	t.Cleanup(func() { c.Close() })
	return w, w.reply()
}

// closed is what reply returns when the server closed the connection.
const closed = "(connection closed)"

// reply reads one reply, possibly multi-line, and returns its lines
// joined with "\n" (without CRLF).
func (w *wire) reply() string {
	w.t.Helper()
	w.conn.SetReadDeadline(time.Now().Add(replyTimeout))
	var lines []string
	for {
		line, err := w.r.ReadString('\n')
		if err != nil {
			if len(lines) == 0 && line == "" && (err == io.EOF || isReset(err)) {
				return closed
			}
			w.t.Fatalf("reading reply: %v (so far %q)", err, append(lines, line))
		}
		line = strings.TrimSuffix(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// write sends raw bytes.
func (w *wire) write(s string) {
	w.t.Helper()
	w.conn.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := io.WriteString(w.conn, s); err != nil {
		w.t.Fatalf("write %q: %v", s, err)
	}
}

// cmd sends one command line and returns the last line of the reply.
func (w *wire) cmd(line string) string {
	w.t.Helper()
	w.write(line + "\r\n")
	return lastLine(w.reply())
}

func lastLine(reply string) string {
	return reply[strings.LastIndexByte(reply, '\n')+1:]
}

// must sends a command and fails unless the reply has the given code.
func (w *wire) must(line string, code string) string {
	w.t.Helper()
	got := w.cmd(line)
	if !strings.HasPrefix(got, code+" ") {
		w.t.Fatalf("%s: got %q, want %s", line, got, code)
	}
	return got
}

// ehlo greets and returns the whole multi-line reply.
func (w *wire) ehlo() string {
	w.t.Helper()
	w.write("EHLO client.example.net\r\n")
	r := w.reply()
	if !strings.HasPrefix(r, "250-") && !strings.HasPrefix(r, "250 ") {
		w.t.Fatalf("EHLO: %q", r)
	}
	return r
}

// starttls upgrades the connection; the caller must EHLO again.
func (w *wire) starttls(cfg *tls.Config) {
	w.t.Helper()
	w.must("STARTTLS", "220")
	w.handshake(cfg)
}

// handshake starts TLS after a 220 to STARTTLS. Nothing may have come
// after the 220 in clear.
func (w *wire) handshake(cfg *tls.Config) {
	w.t.Helper()
	if w.r.Buffered() > 0 {
		w.t.Fatalf("server sent %d bytes after 220 to STARTTLS", w.r.Buffered())
	}
	tc := tls.Client(w.conn, cfg)
	tc.SetDeadline(time.Now().Add(replyTimeout))
	if err := tc.Handshake(); err != nil {
		w.t.Fatalf("TLS handshake: %v", err)
	}
	w.conn, w.r = tc, bufio.NewReader(tc)
}

// plain is the AUTH PLAIN initial response for user and pass.
func plain(user, pass string) string { return b64("\x00" + user + "\x00" + pass) }

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// login authenticates as alice.
func (w *wire) login() {
	w.t.Helper()
	w.must("AUTH PLAIN "+plain(alice, password), "235")
}

// session opens a connection to listener, ready for MAIL FROM: greeted,
// upgraded with STARTTLS when secure is set (implicit on submissions),
// and logged in as alice when auth is set.
func (ts *testServer) session(listener string, secure, auth bool) *wire {
	ts.t.Helper()
	var w *wire
	var greeting string
	if listener == "submissions" {
		w, greeting = dialTLS(ts.t, ts.addr[listener], ts.tls)
	} else {
		w, greeting = dial(ts.t, ts.addr[listener])
	}
	if want := "220 " + hostname + " ESMTP Service Ready"; greeting != want {
		ts.t.Fatalf("greeting %q, want %q", greeting, want)
	}
	w.ehlo()
	if secure && listener != "submissions" {
		w.starttls(ts.tls)
		w.ehlo()
	}
	if auth {
		w.login()
	}
	return w
}

// queuedID pulls the queue ID out of "250 2.0.0 OK: queued as ID".
func queuedID(t testing.TB, reply string) string {
	t.Helper()
	id, ok := strings.CutPrefix(reply, "250 2.0.0 OK: queued as ")
	if !ok || len(id) != 19 {
		t.Fatalf("reply %q is not 250 2.0.0 OK: queued as <19-digit id>", reply)
	}
	return id
}

// message is a small well-formed message with CRLF line endings.
func message(subject string) string {
	return fmt.Sprintf("From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\nHello Bob.\r\n", subject, strings.ReplaceAll(subject, " ", "-"))
}
