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
