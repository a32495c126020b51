package faults

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// plainConn is a clear-text protocol connection read line by line.
type plainConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialPlain(t *testing.T, addr string) *plainConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &plainConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *plainConn) send(s string) {
	p.t.Helper()
	if _, err := p.c.Write([]byte(s)); err != nil {
		p.t.Fatalf("write %q: %v", s, err)
	}
}

// line reads one line; "" when the connection ended.
func (p *plainConn) line() string {
	l, err := p.r.ReadString('\n')
	if err != nil {
		return ""
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to and including the first one with prefix and
// returns them all.
func (p *plainConn) until(prefix string) []string {
	p.t.Helper()
	var out []string
	for {
		l := p.line()
		if l == "" {
			p.t.Fatalf("connection ended before a line starting %q; got %q", prefix, out)
		}
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

// upgrade starts TLS on the connection; false if the server refused the
// handshake or closed the connection (a safe answer to injection).
func (p *plainConn) upgrade(srv *mgtest.Server) bool {
	tc := tls.Client(p.c, srv.ClientTLS())
	if err := tc.Handshake(); err != nil {
		return false
	}
	p.c, p.r = tc, bufio.NewReader(tc)
	return true
}

func startReaders(t *testing.T) *mgtest.Server {
	return mgtest.Start(t, mgtest.Options{
		Protocols: []string{"smtp", "submission", "imap", "pop3"},
		Users:     map[string]string{user: pass},
	})
}

// TestSTARTTLSInjection sends a command in the same packet as STARTTLS
// (STLS for POP3), after which the server must not run it inside the TLS
// session (CVE-2011-0411 and its IMAP/POP3 cousins): either the
// handshake fails, or the first reply over TLS answers the first command
// sent over TLS.
func TestSTARTTLSInjection(t *testing.T) {
	t.Parallel()
	srv := startReaders(t)
	cases := []struct {
		name, listener, greet, pre, inject, after string
		injected                                  func(first string) bool
	}{
		{"smtp", "submission", "220 ", "EHLO a.test\r\n", "STARTTLS\r\nXINJECT\r\n", "EHLO b.test\r\n",
			func(first string) bool { return !strings.HasPrefix(first, "250") }},
		{"smtp-mx", "smtp", "220 ", "EHLO a.test\r\n", "STARTTLS\r\nXINJECT\r\n", "EHLO b.test\r\n",
			func(first string) bool { return !strings.HasPrefix(first, "250") }},
		{"imap", "imap", "* OK", "", "a STARTTLS\r\nb NOOP\r\n", "c NOOP\r\n",
			func(first string) bool { return strings.HasPrefix(first, "b ") }},
		{"pop3", "pop3", "+OK", "", "STLS\r\nXINJECT\r\n", "CAPA\r\n",
			func(first string) bool { return strings.HasPrefix(first, "-ERR") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Control: without the injected command, the upgrade works,
			// so a failed handshake below is the server's refusal.
			stls, _, _ := strings.Cut(tc.inject, "\r\n")
			if !starttls(t, srv, tc.listener, tc.greet, tc.pre, stls+"\r\n") {
				t.Fatalf("%s fails without injection", stls)
			}
			p := dialPlain(t, srv.Addr[tc.listener])
			p.until(tc.greet)
			if tc.pre != "" {
				p.send(tc.pre)
				p.until("250 ")
			}
			p.send(tc.inject)
			ok := p.line() // the go-ahead for TLS, in clear
			if tc.name == "imap" {
				for strings.HasPrefix(ok, "* ") {
					ok = p.line()
				}
			}
			if !strings.HasPrefix(ok, "220") && !strings.HasPrefix(ok, "a OK") && !strings.HasPrefix(ok, "+OK") {
				t.Fatalf("STARTTLS answered %q", ok)
			}
			if !p.upgrade(srv) {
				report(t, "handshake refused after injection")
				return
			}
			p.send(tc.after)
			first := p.line()
			if tc.name == "imap" {
				for strings.HasPrefix(first, "* ") {
					first = p.line()
				}
			}
			if first != "" && tc.injected(first) {
				t.Errorf("the command injected before TLS ran inside the TLS session: first reply %q", first)
			}
			report(t, "injected command dropped; first reply over TLS %q", first)
		})
	}
}

// starttls upgrades a fresh connection; false if the handshake failed.
func starttls(t *testing.T, srv *mgtest.Server, listener, greet, pre, cmd string) bool {
	p := dialPlain(t, srv.Addr[listener])
	p.until(greet)
	if pre != "" {
		p.send(pre)
		p.until("250 ")
	}
	p.send(cmd)
	for l := p.line(); strings.HasPrefix(l, "* "); l = p.line() {
	}
	return p.upgrade(srv)
}

// TestAuthBeforeTLS: on the clear-text ports, no login mechanism is
// offered and every login attempt is refused, even with the right
// password, so that no password crosses the network in clear.
func TestAuthBeforeTLS(t *testing.T) {
	t.Parallel()
	srv := startReaders(t)
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	t.Run("smtp", func(t *testing.T) {
		for _, l := range []string{"submission", "smtp"} {
			p := dialPlain(t, srv.Addr[l])
			p.until("220 ")
			p.send("EHLO a.test\r\n")
			for _, line := range p.until("250 ") {
				if strings.Contains(line, "AUTH") {
					t.Errorf("%s offers %q before TLS", l, line)
				}
			}
			p.send("AUTH PLAIN " + plain + "\r\n")
			if got := p.line(); !strings.HasPrefix(got, "5") && !strings.HasPrefix(got, "4") {
				t.Errorf("%s: AUTH before TLS answered %q", l, got)
			} else {
				report(t, "%s: AUTH PLAIN in clear -> %q", l, got)
			}
		}
	})
	t.Run("imap", func(t *testing.T) {
		p := dialPlain(t, srv.Addr["imap"])
		p.until("* OK")
		p.send("a CAPABILITY\r\n")
		caps := strings.Join(p.until("a "), "\n")
		if !strings.Contains(caps, "LOGINDISABLED") || strings.Contains(caps, "AUTH=") {
			t.Errorf("clear-text CAPABILITY should say LOGINDISABLED and offer no AUTH=: %s", caps)
		}
		p.send("b LOGIN " + user + " \"" + pass + "\"\r\n")
		if got := p.until("b "); !strings.HasPrefix(got[len(got)-1], "b NO") && !strings.HasPrefix(got[len(got)-1], "b BAD") {
			t.Errorf("LOGIN before TLS answered %q", got)
		} else {
			report(t, "LOGIN in clear -> %q", got[len(got)-1])
		}
		p.send("c AUTHENTICATE PLAIN " + plain + "\r\n")
		if got := p.until("c "); !strings.HasPrefix(got[len(got)-1], "c NO") && !strings.HasPrefix(got[len(got)-1], "c BAD") {
			t.Errorf("AUTHENTICATE before TLS answered %q", got)
		}
	})
	t.Run("pop3", func(t *testing.T) {
		p := dialPlain(t, srv.Addr["pop3"])
		p.until("+OK")
		p.send("USER " + user + "\r\n")
		got := p.line()
		if strings.HasPrefix(got, "+OK") {
			p.send("PASS " + pass + "\r\n")
			got = p.line()
		}
		if !strings.HasPrefix(got, "-ERR") {
			t.Errorf("USER/PASS before TLS answered %q", got)
		}
		p.send("AUTH PLAIN " + plain + "\r\n")
		if got2 := p.line(); !strings.HasPrefix(got2, "-ERR") {
			t.Errorf("AUTH PLAIN before TLS answered %q", got2)
		}
		report(t, "USER/PASS in clear -> %q", got)
	})
	if strings.Contains(srv.Logs(), "auth success") || strings.Contains(srv.Logs(), "login\" ") {
		t.Errorf("a clear-text login succeeded:\n%s", srv.Logs())
	}
}
