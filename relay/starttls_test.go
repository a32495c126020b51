package relay_test

import (
	"strings"
	"testing"

	"mailgate/config"
)

// TestSTARTTLSInjection: commands pipelined in the same packet as
// STARTTLS, before the handshake, are never executed: no reply to them
// arrives in clear or inside TLS, and their effect is nowhere to be seen.
func TestSTARTTLSInjection(t *testing.T) {
	t.Parallel()
	injections := []struct {
		name, bytes string
	}{
		{"RSET", "RSET\r\n"},
		{"MAIL FROM", "MAIL FROM:<evil@remote.example>\r\n"},
		{"EHLO and AUTH", "EHLO evil.example\r\nAUTH PLAIN " + plain(alice, password) + "\r\n"},
		{"QUIT", "QUIT\r\n"},
		{"NOOP flood", strings.Repeat("NOOP\r\n", 50)},
	}
	for _, listener := range []string{"mx", "submission"} {
		for _, inj := range injections {
			t.Run(listener+"/"+inj.name, func(t *testing.T) {
				t.Parallel()
				ts := startServer(t, nil)
				w, _ := dial(t, ts.addr[listener])
				w.ehlo()
				w.write("STARTTLS\r\n" + inj.bytes)
				// starttls checks nothing follows the 220 in clear; if QUIT
				// or anything else had run, the handshake would fail.
				if got := w.reply(); got != "220 2.0.0 Ready to start TLS" {
					t.Fatalf("STARTTLS: %q", got)
				}
				w.handshake(ts.tls)
				// The first reply inside TLS answers our first command, and
				// the session is new: EHLO is needed again.
				if got := w.cmd("MAIL FROM:<alice@example.com>"); got != "502 5.5.1 Please introduce yourself first." {
					t.Errorf("MAIL right after TLS: %q", got)
				}
				w.ehlo()
				// No transaction was carried over...
				if got := w.cmd(rcptBob); got != "502 5.5.1 Missing MAIL FROM command." {
					t.Errorf("RCPT after TLS: %q", got)
				}
				// ...and no login: an injected AUTH did not stick.
				if listener == "submission" {
					if got := w.cmd("MAIL FROM:<alice@example.com>"); got != "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM" {
						t.Errorf("MAIL after TLS: %q", got)
					}
				}
			})
		}
	}
}

// TestSTARTTLSResetsAuth: a login made before TLS (possible only where the
// config allows plaintext AUTH on loopback) is forgotten by the TLS
// upgrade, as RFC 3207 section 4.2 requires.
func TestSTARTTLSResetsAuth(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) {
		for i := range c.Listeners {
			c.Listeners[i].AllowInsecureAuth = true
		}
	})
	w, _ := dial(t, ts.addr["submission"])
	if ehlo := w.ehlo(); !strings.Contains(ehlo, "250-AUTH PLAIN LOGIN") {
		t.Fatalf("allow_insecure_auth on loopback should offer AUTH before TLS:\n%s", ehlo)
	}
	w.login()
	w.must("MAIL FROM:<alice@example.com>", "250")
	w.starttls(ts.tls)
	w.ehlo()
	if got := w.cmd("MAIL FROM:<alice@example.com>"); got != "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM" {
		t.Errorf("MAIL after STARTTLS: %q, want the pre-TLS login forgotten", got)
	}
	w.login()
	w.must("MAIL FROM:<alice@example.com>", "250")
}
