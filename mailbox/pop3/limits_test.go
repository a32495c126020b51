package pop3

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A command pipelined behind STLS in the clear must never run inside the
// TLS session (the STARTTLS command-injection attack, CVE-2011-0411).
func TestSTLSDropsPipelinedCommands(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.AllowInsecureAuth = true })
	c := e.dial(t)
	c.send("STLS\r\nUSER alice") // one write: the server reads both at once
	c.expect("+OK begin TLS negotiation")
	c.upgrade(e)
	// Had "USER alice" run, this PASS would log in.
	c.converse(`
		C: PASS secret
		S: -ERR send USER first`)
}

// Marked messages stay when the connection drops or the server is closed;
// only QUIT removes them.
func TestDeletionsOnlyOnQuit(t *testing.T) {
	t.Parallel()
	e, uids := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(`
		C: DELE 1
		S: +OK message 1 deleted
		C: DELE 2
		S: +OK message 2 deleted`)
	c.conn.Close()
	// The lock is released when the server has ended that session, so a
	// successful login proves the dropped session is over.
	c = loginWhenFree(t, e)
	if got := e.store.uids(t, "alice"); !slices.Equal(got, uids) {
		t.Fatalf("after a dropped connection the store has %v, want %v", got, uids)
	}
	c.converse(`
		C: DELE 2
		S: +OK message 2 deleted`)
	e.srv.Close()
	c.expectClosed()
	if got := e.store.uids(t, "alice"); !slices.Equal(got, uids) {
		t.Fatalf("after Close the store has %v, want %v", got, uids)
	}
}

// loginWhenFree logs alice in, retrying while her previous session is
// still being torn down ([IN-USE]).
func loginWhenFree(t *testing.T, e *env) *client {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := e.dialTLS(t)
		c.converse("C: USER alice\nS: +OK send PASS")
		c.send("PASS secret")
		l := c.line()
		if strings.HasPrefix(l, "+OK logged in") {
			return c
		}
		if !strings.HasPrefix(l, "-ERR [IN-USE]") || time.Now().After(deadline) {
			t.Fatalf("login: %q", l)
		}
		c.conn.Close()
	}
}

func TestOverlongLine(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := e.dial(t)
	c.send("NOOP " + strings.Repeat("x", 250)) // 257 octets with CRLF
	c.expect("-ERR line too long (commands are limited to 255 octets); closing connection")
	c.expectClosed()

	// 255 octets with CRLF is still a command.
	c = e.dial(t)
	c.send("USER " + strings.Repeat("x", 248))
	c.expect("-ERR [AUTH] login is refused before TLS; send STLS first, or use the POP3S port")

	// A line without an end at all is cut off at the buffer, not stored.
	c = e.dial(t)
	c.conn.Write([]byte(strings.Repeat("y", 10000)))
	c.expect("-ERR line too long (commands are limited to 255 octets); closing connection")
	c.expectClosed()
}

func TestOverlongAUTHResponse(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := e.dialTLS(t)
	c.converse("C: AUTH PLAIN\nS: + ")
	c.send(strings.Repeat("QUFB", 300))
	c.expect("-ERR line too long (an AUTH response is limited to 1024 octets); closing connection")
	c.expectClosed()
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	c := e.login(t, "alice", "secret")
	c.expect("-ERR idle for too long; closing connection")
	c.expectClosed()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(fmt.Sprintf("C: RETR 1\nS: +OK %d octets", len(msgA)))
	for c.line() != "." {
	}
	c.converse(`
		C: DELE 1
		S: +OK message 1 deleted
		C: XYZ
		S: -ERR unknown command; CAPA lists the commands this server knows
		C: QUIT
		S: +OK pop.test POP3 server signing off (1 messages deleted)`)
	c.expectClosed()
	bad := e.dialTLS(t)
	bad.converse(`
		C: AUTH PLAIN AGFsaWNlAHg=
		S: -ERR [AUTH] invalid user name or password`)
	checks := []struct {
		name, label string
		want        float64
	}{
		{"mailgate_pop3_sessions_total", "implicit", 2},
		{"mailgate_pop3_sessions_active", "", 0},
		{"mailgate_pop3_connections_open", "unauthenticated", 0},
		{"mailgate_pop3_connections_open", "authenticated", 0},
		{"mailgate_pop3_commands_total", "RETR", 1},
		{"mailgate_pop3_commands_total", "unknown", 1},
		{"mailgate_pop3_auth_failures_total", "plain", 1},
		{"mailgate_pop3_deleted_messages_total", "", 1},
		{"mailgate_pop3_retrieved_bytes_total", "", float64(len(msgA))},
	}
	bad.conn.Close()
	e.srv.Close() // ends the sessions, so the active gauge is settled
	for _, ch := range checks {
		if got := metricValue(t, e.reg, ch.name, ch.label); got != ch.want {
			t.Errorf("%s{%s} = %v, want %v", ch.name, ch.label, got, ch.want)
		}
	}
}

// metricValue reads one series from the registry: the one whose only label
// has the given value, or the unlabelled one.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if lp := m.GetLabel(); (label == "" && len(lp) == 0) || (len(lp) == 1 && lp[0].GetValue() == label) {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

func TestConnectionsPerIP(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.MaxConnsPerIP = 1 })
	first := e.dial(t)
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	second := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	second.expect("-ERR [SYS/TEMP] too many connections from your address; close some and try again")
	second.expectClosed()
	first.converse("C: QUIT\nS: +OK pop.test POP3 server signing off")
	first.expectClosed()
}
