package faults

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"net"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// TestAuthBadBase64: a SASL response that is not base64, in the initial
// response or in a continuation, of PLAIN or LOGIN, gets 501 5.5.2 saying
// what to send (not 454, which tells the client to try again later), over
// STARTTLS and implicit TLS; each counts as a failed login, so after
// auth.max_failures even the right password from that address is refused.
func TestAuthBadBase64(t *testing.T) {
	t.Parallel()
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submission", "submissions"},
		Users:     map[string]string{user: pass},
		Config:    "auth:\n  max_failures: 3\n  window: 10m\n  lockout: 10m\n  delay: 1ms\n",
	})
	const bad = "501 5.5.2 Invalid base64 data; send the SASL response base64-encoded (RFC 4954 section 4)"
	good := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	for _, mode := range []struct{ name, src string }{{"starttls", "127.0.0.61"}, {"implicit", "127.0.0.62"}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			p := dialAuth(t, srv, mode.name, mode.src)
			for _, step := range [][]string{
				{"AUTH PLAIN !!!not-base64", bad},
				{"AUTH LOGIN", "334 VXNlcm5hbWU6", "@@@", bad},
				{"AUTH PLAIN", "334 ", "%%%", bad},
			} {
				for i := 0; i < len(step); i += 2 {
					p.send(step[i] + "\r\n")
					if got := p.line(); got != step[i+1] {
						t.Fatalf("%q answered %q, want %q", step[i], got, step[i+1])
					}
				}
			}
			p.send("AUTH PLAIN " + good + "\r\n")
			if got := p.line(); got != "454 4.7.0 Too many failed logins from your address or for this account; try again later" {
				t.Errorf("right password after 3 bad-base64 attempts: %q, want the lockout", got)
			}
			report(t, "%s: bad base64 answered %q; lockout after 3", mode.name, bad)
		})
	}
}

// dialAuth connects from src to the submission port (STARTTLS) or the
// submissions port (implicit TLS) and is ready for AUTH.
func dialAuth(t *testing.T, srv *mgtest.Server, mode, src string) *plainConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	var c net.Conn
	var err error
	if mode == "implicit" {
		c, err = tls.DialWithDialer(&d, "tcp", srv.Addr["submissions"], srv.ClientTLS())
	} else {
		c, err = d.Dial("tcp", srv.Addr["submission"])
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	p := &plainConn{t: t, c: c, r: bufio.NewReader(c)}
	p.until("220 ")
	p.send("EHLO client.test\r\n")
	p.until("250 ")
	if mode == "starttls" {
		p.send("STARTTLS\r\n")
		p.until("220 ")
		if !p.upgrade(srv) {
			t.Fatal("STARTTLS handshake failed")
		}
		p.c.SetDeadline(time.Now().Add(60 * time.Second))
		p.send("EHLO client.test\r\n")
		p.until("250 ")
	}
	return p
}
