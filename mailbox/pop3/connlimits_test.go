package pop3

import (
	"net"
	"testing"
	"time"

	"mailgate/internal/testenv"
)

// TestInsecureAuthOnlyForLoopbackClients: a listener with InsecureAuth
// refuses a clear-text login from a client that is not on loopback.
func TestInsecureAuthOnlyForLoopbackClients(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.ServeListener(testenv.FarListener{Listener: ln}, Listener{InsecureAuth: true})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, conn)
	c.send("USER alice")
	c.expect("-ERR [AUTH] login is refused before TLS; send STLS first, or use the POP3S port")
}

// TestLoginTimeout: a connection that keeps itself busy without logging
// in is told so and closed after LoginTimeout.
func TestLoginTimeout(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.LoginTimeout = 300 * time.Millisecond })
	c := e.dial(t)
	last := testenv.KeepBusy(c.conn, c.r, "NOOP\r\n")
	if last != "-ERR [SYS/TEMP] no login within 300ms; closing connection" {
		t.Fatalf("last line of an unauthenticated connection kept busy: %q", last)
	}
}

// TestOpenConnectionsByState: the gauge tells connections not logged in
// from logged-in ones.
func TestOpenConnectionsByState(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	e.login(t, "alice", "secret")
	anon := e.dialTLS(t)
	anon.send("CAPA")
	for anon.line() != "." {
	}
	if got := metricValue(t, e.reg, "mailgate_pop3_connections_open", "authenticated"); got != 1 {
		t.Errorf("authenticated = %v, want 1", got)
	}
	if got := metricValue(t, e.reg, "mailgate_pop3_connections_open", "unauthenticated"); got != 1 {
		t.Errorf("unauthenticated = %v, want 1", got)
	}
}
