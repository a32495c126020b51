package relay_test

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"

	"mailgate/config"
)

// rejectCase is one way a client gets refused, with the exact reply line
// it sees. A case either sends steps on one connection (every reply but
// the last must be 2xx or 3xx; the last is compared), or runs its own
// script across several connections and returns the line to compare.
type rejectCase struct {
	name     string
	listener string // mx, submission or submissions
	secure   bool   // STARTTLS before the steps
	auth     bool   // AUTH as alice before the steps
	edit     func(*config.Config)
	steps    []string // each sent followed by CRLF
	run      func(t *testing.T, ts *testServer) string
	want     string
}

// Reply lines, named once because several cases share them.
const (
	relayDenied  = "550 5.7.1 Relaying denied: this server only accepts mail for its own domains; authenticate on the submission port to send elsewhere"
	addressTrick = "550 5.7.1 Relaying denied: source routes, % or ! in addresses, quoted @ and address literals are not accepted"
	bareLine     = "550 5.5.2 Message contains a bare CR or LF; end every line with CRLF (RFC 5321 section 2.3.8)"
	nulByte      = "550 5.6.0 Message contains a NUL byte, which SMTP cannot carry; encode binary content, for example with base64"
	authLocked   = "454 4.7.0 Too many failed logins from your address or for this account; try again later"
	internal     = "451 4.3.0 Internal error; try again later (session ID)"
)

// mailFrom and rcptBob start a transaction that the MX listener accepts.
const (
	mailFrom = "MAIL FROM:<sender@remote.example>"
	rcptBob  = "RCPT TO:<bob@example.com>"
)

var rejectCases = []rejectCase{
	// No open relay on the MX listener.
	{name: "relay to a remote domain without AUTH", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<victim@remote.example>"}, want: relayDenied},
	{name: "relay without AUTH after STARTTLS", listener: "mx", secure: true,
		steps: []string{mailFrom, "RCPT TO:<victim@remote.example>"}, want: relayDenied},
	{name: "percent hack", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<victim%remote.example@example.com>"}, want: addressTrick},
	{name: "bang path", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<remote.example!victim@example.com>"}, want: addressTrick},
	{name: "source route to a remote domain", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<@example.com,@mail.example.com:victim@remote.example>"}, want: relayDenied},
	{name: "quoted local part with @", listener: "mx",
		steps: []string{mailFrom, `RCPT TO:<"victim@remote.example"@example.com>`}, want: addressTrick},
	{name: "address literal", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<victim@[192.0.2.1]>"}, want: addressTrick},
	{name: "IPv6 address literal", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<victim@[IPv6:2001:db8::1]>"}, want: addressTrick},
	{name: "local domain with a trailing dot is not local", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<bob@example.com.>"}, want: relayDenied},
	{name: "unknown local user", listener: "mx",
		steps: []string{mailFrom, "RCPT TO:<nobody@example.com>"}, want: "550 5.1.1 No such user here; check the recipient address"},
	{name: "AUTH on the MX listener", listener: "mx", secure: true,
		steps: []string{"AUTH PLAIN " + plain(alice, password)}, want: "502 5.5.1 AUTH is not available on this port; use the submission port"},

	// Submission: TLS, then AUTH, then MAIL.
	{name: "MAIL before AUTH on submission", listener: "submission", secure: true,
		steps: []string{"MAIL FROM:<alice@example.com>"}, want: "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM"},
	{name: "MAIL before AUTH on submission without TLS", listener: "submission",
		steps: []string{"MAIL FROM:<alice@example.com>"}, want: "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM"},
	{name: "MAIL before AUTH on submissions", listener: "submissions",
		steps: []string{"MAIL FROM:<alice@example.com>"}, want: "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM"},
	{name: "AUTH PLAIN before TLS", listener: "submission",
		steps: []string{"AUTH PLAIN " + plain(alice, password)}, want: "538 5.7.11 Encryption required for requested authentication mechanism; use STARTTLS first"},
	{name: "AUTH LOGIN before TLS", listener: "submission",
		steps: []string{"AUTH LOGIN"}, want: "538 5.7.11 Encryption required for requested authentication mechanism; use STARTTLS first"},
	{name: "bad password", listener: "submission", secure: true,
		steps: []string{"AUTH PLAIN " + plain(alice, "wrong")}, want: "535 5.7.8 Authentication credentials invalid"},
	{name: "unknown user", listener: "submissions",
		steps: []string{"AUTH PLAIN " + plain("mallory@example.com", password)}, want: "535 5.7.8 Authentication credentials invalid"},
	{name: "bad password with AUTH LOGIN", listener: "submissions",
		steps: []string{"AUTH LOGIN", b64(alice), b64("wrong")}, want: "535 5.7.8 Authentication credentials invalid"},
	{name: "authorization identity of another user", listener: "submissions",
		steps: []string{"AUTH PLAIN " + b64(bob+"\x00"+alice+"\x00"+password)}, want: "535 5.7.8 Authentication credentials invalid"},
	{name: "unsupported mechanism", listener: "submissions",
		steps: []string{"AUTH CRAM-MD5"}, want: "504 5.7.4 Unsupported authentication mechanism"},
	{name: "AUTH cancelled", listener: "submissions",
		steps: []string{"AUTH LOGIN", "*"}, want: "501 5.0.0 Negotiation cancelled"},
	{name: "throttled after repeated failures across connections", listener: "submission",
		run: throttled, want: authLocked},

	// Limits.
	{name: "SIZE over the limit", listener: "mx",
		steps: []string{mailFrom + " SIZE=4097"}, want: "552 5.3.4 Max message size exceeded"},
	{name: "DATA over the limit", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 70) + "."},
		want:  "552 5.3.4 Maximum message size exceeded"},
	{name: "BDAT over the limit", listener: "mx",
		steps: []string{mailFrom, rcptBob, "BDAT 5000 LAST"}, want: "552 5.3.4 Max message size exceeded"},
	{name: "too many recipients", listener: "mx",
		steps: []string{mailFrom, rcptBob, rcptBob, "RCPT TO:<alice@example.com>", "RCPT TO:<alice+x@example.com>"},
		want:  "452 4.5.3 Maximum limit of 3 recipients reached"},
	{name: "too many connections in total", listener: "mx",
		edit: func(c *config.Config) { c.Limits.MaxConnections = 2 },
		run:  tooManyConnections, want: "421 4.7.0 Too many connections; try again later"},
	{name: "too many connections from one IP", listener: "mx",
		edit: func(c *config.Config) { c.Limits.MaxConnectionsPerIP = 2 },
		run:  tooManyConnections, want: "421 4.7.0 Too many connections from your address; try again later"},
	{name: "too many connections on implicit TLS", listener: "submissions",
		edit: func(c *config.Config) { c.Limits.MaxConnectionsPerIP = 2 },
		run:  tooManyTLSConnections, want: closed},
	{name: "overlong command line", listener: "mx",
		steps: []string{"MAIL FROM:<" + strings.Repeat("x", 1000) + "@remote.example>"}, want: "500 5.4.0 Too long line, closing connection"},
	{name: "overlong line in DATA", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", "Subject: long\r\n\r\n" + strings.Repeat("x", 1001) + "\r\n."},
		want:  "500 5.5.2 Line too long; keep lines within 1000 octets (RFC 5321 section 4.5.3.1.6)"},

	{name: "too many errors in one session", listener: "mx",
		edit: func(c *config.Config) { c.Limits.MaxErrors = 3 },
		run:  tooManyErrors, want: "421 4.7.0 Too many errors; closing connection"},

	// Line endings and bytes SMTP cannot carry.
	{name: "bare LF in DATA", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", "Subject: bare LF\n\r\nhello\r\n."}, want: bareLine},
	{name: "bare CR in DATA", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", "Subject: bare CR\r\n\r\nhel\rlo\r\n."}, want: bareLine},
	{name: "bare LF as the last byte before the end", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", "Subject: x\r\n\r\nhello\n\r\n."}, want: bareLine},
	{name: "NUL in DATA", listener: "mx",
		steps: []string{mailFrom, rcptBob, "DATA", "Subject: nul\r\n\r\nhel\x00lo\r\n."}, want: nulByte},
	{name: "bare LF in BDAT", listener: "mx",
		steps: []string{mailFrom, rcptBob, "BDAT 22 LAST\r\nSubject: x\n\r\nhello\r\n"}, want: bareLine},

	// Commands out of order or malformed.
	{name: "MAIL before EHLO", listener: "mx", run: mailBeforeEHLO,
		want: "502 5.5.1 Please introduce yourself first."},
	{name: "RCPT before MAIL", listener: "mx",
		steps: []string{rcptBob}, want: "502 5.5.1 Missing MAIL FROM command."},
	{name: "DATA before RCPT", listener: "mx",
		steps: []string{mailFrom, "DATA"}, want: "502 5.5.1 Missing RCPT TO command."},
	{name: "MAIL FROM without a domain", listener: "mx",
		steps: []string{"MAIL FROM:<sender>"}, want: "501 5.5.2 Was expecting MAIL arg syntax of FROM:<address>"},
	{name: "unknown MAIL parameter", listener: "mx",
		steps: []string{mailFrom + " FOO=BAR"}, want: "500 5.5.4 Unknown MAIL FROM argument"},
	{name: "bad RET value", listener: "mx",
		steps: []string{mailFrom + " RET=ALL"}, want: "501 5.5.4 Unknown RET value"},
	{name: "bad NOTIFY value", listener: "mx",
		steps: []string{mailFrom, rcptBob + " NOTIFY=NEVER,SUCCESS"}, want: "501 5.5.4 Malformed NOTIFY parameter value"},
	{name: "STARTTLS twice", listener: "submissions",
		steps: []string{"STARTTLS"}, want: "502 5.5.1 Already running in TLS"},

	// Internal errors never reach the client.
	{name: "spool gone", listener: "mx", run: spoolGone, want: internal},
}

func TestRejections(t *testing.T) {
	t.Parallel()
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, tc.edit)
			var got string
			if tc.run != nil {
				got = tc.run(t, ts)
			} else {
				w := ts.session(tc.listener, tc.secure, tc.auth)
				for i, s := range tc.steps {
					got = w.cmd(s)
					if i < len(tc.steps)-1 && got[0] != '2' && got[0] != '3' {
						t.Fatalf("step %q: got %q", s, got)
					}
				}
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			// A rejected transaction leaves nothing in the spool.
			if tc.run == nil {
				if files := ts.spoolFiles(); len(files) != 0 {
					t.Errorf("spool holds %v after a rejection", files)
				}
			}
		})
	}
}

// throttled fails to log in max_failures times over separate connections;
// then even the right password is refused.
func throttled(t *testing.T, ts *testServer) string {
	for i := 1; i <= 3; i++ {
		w := ts.session("submission", true, false)
		got := w.cmd("AUTH PLAIN " + plain(alice, "guess"))
		want := "535 5.7.8 Authentication credentials invalid"
		if i == 3 {
			want = authLocked // the failure that reaches the limit says so
		}
		if got != want {
			t.Fatalf("failure %d: got %q, want %q", i, got, want)
		}
	}
	w := ts.session("submission", true, false)
	return w.cmd("AUTH PLAIN " + plain(alice, password))
}

// tooManyConnections holds two connections open (each greeted, so the
// server has counted it) and returns what the third one hears.
func tooManyConnections(t *testing.T, ts *testServer) string {
	for range 2 {
		dial(t, ts.addr["mx"])
	}
	w, greeting := dial(t, ts.addr["mx"])
	if after := w.reply(); after != closed {
		t.Errorf("after the 421 greeting: %q, want the connection closed", after)
	}
	return greeting
}

// tooManyTLSConnections: on a port where the client speaks TLS first, a
// clear-text 421 would only garble the handshake, so the connection over
// the limit is closed at once.
func tooManyTLSConnections(t *testing.T, ts *testServer) string {
	for range 2 {
		dialTLS(t, ts.addr["submissions"], ts.tls)
	}
	c, err := tls.Dial("tcp", ts.addr["submissions"], ts.tls)
	if err == nil {
		c.Close()
		t.Fatal("third TLS connection was accepted")
	}
	if !strings.Contains(err.Error(), "EOF") && !isReset(err) {
		t.Errorf("third connection failed with %v, want the server to close it", err)
	}
	return closed
}

// tooManyErrors probes for addresses: the rejection that reaches
// limits.max_errors is a 421, and the connection is closed after it.
func tooManyErrors(t *testing.T, ts *testServer) string {
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	for _, probe := range []string{"admin", "root"} {
		if got := w.cmd("RCPT TO:<" + probe + "@example.com>"); !strings.HasPrefix(got, "550 5.1.1 ") {
			t.Fatalf("probe %s: %q", probe, got)
		}
	}
	got := w.cmd("RCPT TO:<info@example.com>")
	if after := w.reply(); after != closed {
		t.Errorf("after the 421: %q, want the connection closed", after)
	}
	return got
}

func mailBeforeEHLO(t *testing.T, ts *testServer) string {
	w, _ := dial(t, ts.addr["mx"])
	return w.cmd(mailFrom)
}

// spoolGone removes the spool directory under the running queue: the
// client must hear a generic 451 with its session ID, never the error.
func spoolGone(t *testing.T, ts *testServer) string {
	w := ts.session("mx", false, false)
	if err := os.RemoveAll(ts.queue.Spool().Dir()); err != nil {
		t.Fatal(err)
	}
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	got := w.cmd(message("doomed") + ".")
	prefix, id, ok := strings.Cut(strings.TrimSuffix(got, ")"), "(session ")
	if !ok || len(id) != 12 {
		t.Fatalf("reply %q has no session ID", got)
	}
	logs := ts.logs.String()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "session="+id) && strings.Contains(line, `msg="internal error"`) &&
			strings.Contains(line, "no such file or directory") {
			return prefix + "(session ID)"
		}
	}
	t.Errorf("log has no internal error line for session %s with the cause:\n%s", id, logs)
	return prefix + "(session ID)"
}

// TestQueueClosed: a session still running when the queue has been closed
// (shutdown past its deadline) gets the generic 451 for every message,
// never a hang.
func TestQueueClosed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.Limits.MaxErrors = 100 })
	w := ts.session("mx", false, false)
	ts.queue.Close()
	for i := range 20 {
		w.must(mailFrom, "250")
		w.must(rcptBob, "250")
		w.must("DATA", "354")
		if got := w.cmd(message("after close") + "."); !strings.HasPrefix(got, "451 4.3.0 Internal error; try again later (session ") {
			t.Fatalf("message %d: %q", i, got)
		}
	}
}
