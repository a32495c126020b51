package faults

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
)

// floodLimit allows two connections per client address an hour.
const floodLimit = "filters:\n  ratelimit:\n    connections_per_ip: {count: 2, period: 1h}\n"

const floodGreeting = "421 4.7.0 Too many connections from your address (more than 2 in 1h); try again later"

// TestConnectionRateGreeting: a client over its connection rate is told
// so in the greeting itself (RFC 5321 section 3.1), on the MX port and
// after the handshake on implicit TLS, and not greeted with 220 first. A
// STARTTLS within one connection does not count as a second connection.
func TestConnectionRateGreeting(t *testing.T) {
	t.Parallel()
	t.Run("mx", func(t *testing.T) {
		t.Parallel()
		srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp"},
			Filters: map[string][]string{"smtp": {"ratelimit"}}, Config: floodLimit})
		// The first connection upgrades to TLS: still one connection.
		c, err := smtp.DialStartTLS(srv.Addr["smtp"], srv.ClientTLS())
		if err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		if err := c.Hello("client.test"); err != nil {
			t.Fatalf("EHLO after STARTTLS: %v", err)
		}
		c.Quit()
		dial := func() (net.Conn, error) { return net.Dial("tcp", srv.Addr["smtp"]) }
		if g := greeting(t, dial); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("second connection greeted %q, want 220", g)
		}
		if g := greeting(t, dial); g != floodGreeting {
			t.Errorf("third connection greeted %q, want %q", g, floodGreeting)
		}
	})
	t.Run("submissions", func(t *testing.T) {
		t.Parallel()
		srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"submissions"},
			Filters: map[string][]string{"submissions": {"ratelimit"}}, Config: floodLimit})
		dial := func() (net.Conn, error) { return tls.Dial("tcp", srv.Addr["submissions"], srv.ClientTLS()) }
		for i := range 2 {
			if g := greeting(t, dial); !strings.HasPrefix(g, "220 ") {
				t.Fatalf("connection %d greeted %q, want 220", i+1, g)
			}
		}
		if g := greeting(t, dial); g != floodGreeting {
			t.Errorf("third connection greeted %q, want %q", g, floodGreeting)
		}
	})
}

// greeting connects and returns the server's first line.
func greeting(t *testing.T, dial func() (net.Conn, error)) string {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(mgtest.Timeout))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the greeting: %v (read %q)", err, line)
	}
	if strings.HasPrefix(line, "220 ") {
		// QUIT and wait for 221: a submission connection that never
		// logged in is charged to the rate by then, so the next
		// connection sees the budget up to date.
		c.Write([]byte("QUIT\r\n"))
		br.ReadString('\n')
	}
	return strings.TrimRight(line, "\r\n")
}
