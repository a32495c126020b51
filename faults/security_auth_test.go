package faults

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// TestAuthBruteForceThrottled guesses passwords on the submission port.
// Each failure is answered only after auth.delay; after max_failures the
// address is locked out (454 4.7.0), even for the right password, while
// another address can still log in.
func TestAuthBruteForceThrottled(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submissions"},
		Users:     map[string]string{user: pass},
		Config:    "auth:\n  max_failures: 3\n  window: 10m\n  lockout: 10m\n  delay: 300ms\n",
	})
	try := func(src, password string) (string, time.Duration) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := tls.DialWithDialer(&d, "tcp", srv.Addr["submissions"], srv.ClientTLS())
		if err != nil {
			t.Fatal(err)
		}
		p := &plainConn{t: t, c: c, r: nil}
		defer c.Close()
		p.c.SetDeadline(time.Now().Add(30 * time.Second))
		p.r = newReader(c)
		p.until("220 ")
		p.send("EHLO guesser.test\r\n")
		p.until("250 ")
		start := time.Now()
		p.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "\r\n")
		return p.line(), time.Since(start)
	}
	var replies []string
	for i := range 6 {
		got, took := try("127.0.0.2", "guess-"+string(rune('a'+i)))
		replies = append(replies, got)
		switch {
		case i < 2, i == 2 && !strings.HasPrefix(got, "454 "): // the 3rd may lock at once
			if !strings.HasPrefix(got, "535 5.7.8 ") {
				t.Errorf("guess %d answered %q, want 535 5.7.8", i+1, got)
			}
			if took < delay {
				t.Errorf("guess %d answered after %v, before auth.delay %v", i+1, took, delay)
			}
		default:
			if !strings.HasPrefix(got, "454 4.7.0 ") {
				t.Errorf("guess %d (locked out) answered %q, want 454 4.7.0", i+1, got)
			}
		}
	}
	if got, _ := try("127.0.0.2", pass); !strings.HasPrefix(got, "454 4.7.0 ") {
		t.Errorf("right password from the locked address answered %q, want 454 4.7.0", got)
	}
	if got, _ := try("127.0.0.3", pass); !strings.HasPrefix(got, "235 ") {
		t.Errorf("right password from another address answered %q, want 235", got)
	}
	report(t, "6 guesses: %q ... %q; right password while locked refused; other address logs in", replies[0], replies[5])
}

// TestReadAuthBruteForce guesses passwords over IMAPS and POP3S. Both
// close a connection after 3 failed logins, and POP3 answers each failure
// only after its failure delay. The test measures the guessing rate of one
// client reconnecting, and checks that the address is then locked out
// (auth.*: one limiter shared with SMTP AUTH), so even the right password
// is refused.
func TestReadAuthBruteForce(t *testing.T) {
	t.Parallel()
	srv := startIMAPPOP(t)
	type proto struct {
		name   string
		login  func(p *plainConn, password string) string
		greet  string
		ok     string
		locked string
	}
	protos := []proto{
		{"imaps", func(p *plainConn, pw string) string {
			p.send("a LOGIN " + user + " \"" + pw + "\"\r\n")
			return p.line()
		}, "* OK", "a OK", "a NO [UNAVAILABLE] Too many failed logins from your address or for this account; try again later"},
		{"pop3s", func(p *plainConn, pw string) string {
			p.send("USER " + user + "\r\n")
			if l := p.line(); !strings.HasPrefix(l, "+OK") {
				return l
			}
			p.send("PASS " + pw + "\r\n")
			return p.line()
		}, "+OK", "+OK", "-ERR [AUTH] too many failed logins from your address or for this account; try again later"},
	}
	for _, pr := range protos {
		t.Run(pr.name, func(t *testing.T) {
			t.Parallel()
			guesses, conns := 0, 0
			start := time.Now()
			var perConn []int
			for guesses < 6 {
				p := dialTLSLine(t, srv, pr.name)
				p.until(pr.greet)
				conns++
				n := 0
				for {
					st := time.Now()
					got := pr.login(p, "wrong-"+string(rune('a'+guesses)))
					if got == "" || strings.HasPrefix(got, "* BYE") {
						break
					}
					guesses++
					n++
					if strings.HasPrefix(got, pr.ok) {
						t.Fatalf("wrong password accepted: %q", got)
					}
					if got == pr.locked {
						break
					}
					if pr.name == "pop3s" && time.Since(st) < time.Second {
						t.Errorf("POP3 failure answered after %v, before the failure delay", time.Since(st))
					}
					if strings.Contains(got, "closing") {
						break
					}
				}
				perConn = append(perConn, n)
				if n > 3 {
					t.Errorf("%d failed logins on one connection; want the connection closed after 3", n)
				}
			}
			rate := float64(guesses) / time.Since(start).Seconds()
			p := dialTLSLine(t, srv, pr.name)
			p.until(pr.greet)
			after := pr.login(p, pass)
			if after != pr.locked {
				t.Errorf("right password after %d guesses answered %q, want the lockout %q", guesses, after, pr.locked)
			}
			report(t, "%d wrong guesses over %d connections (%v per connection): %.1f guesses/s from one client; right password afterwards -> %q",
				guesses, conns, perConn, rate, after)
		})
	}
}
