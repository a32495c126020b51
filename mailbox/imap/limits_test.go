package imap

import (
	"strings"
	"testing"
	"time"

	"mailgate/internal/testenv"
)

// TestPerIPLimit: past MaxConnectionsPerIP connections from one address
// the next gets * BYE naming the address limit, while the total limit
// has room.
func TestPerIPLimit(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.MaxConnections, o.MaxConnectionsPerIP = 10, 2 })
	for range 2 {
		if l := dialRaw(t, env.plainAddr, false).line(); !strings.HasPrefix(l, "* OK") {
			t.Fatalf("connection under the limit greeted %q", l)
		}
	}
	over := dialRaw(t, env.plainAddr, false)
	if l := over.line(); l != "* BYE Too many connections from your address; close some and try again" {
		t.Fatalf("third connection from one address: %q", l)
	}
}

// TestUserIPLimit: a login past MaxUserIPConnections sessions of one
// account from one address gets NO [LIMIT]; another account still logs
// in, and a session that ends frees its place.
func TestUserIPLimit(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.MaxUserIPConnections = 2 })
	login := func(user, pass string) (*rawConn, string) {
		c := dialRaw(t, env.tlsAddr, true)
		c.line()
		c.send("a LOGIN " + user + " " + pass + "\r\n")
		lines := c.until("a ")
		return c, lines[len(lines)-1]
	}
	first, _ := login("alice", "secret")
	login("alice", "secret")
	if _, r := login("alice", "secret"); r != "a NO [LIMIT] Too many sessions of this account from your address; close some and try again" {
		t.Fatalf("third session of alice: %q", r)
	}
	if _, r := login("bob@example.com", "hunter2"); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("bob's login: %q", r)
	}
	first.send("z LOGOUT\r\n")
	first.rest()
	var r string
	for range 100 { // the server notes the close just after the client sees it
		if _, r = login("alice", "secret"); strings.HasPrefix(r, "a OK") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.HasPrefix(r, "a OK") {
		t.Fatalf("alice's login after one session ended: %q", r)
	}
}

// TestLoginTimeout: a connection that keeps itself busy without logging
// in is closed with * BYE after LoginTimeout.
func TestLoginTimeout(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.LoginTimeout = 300 * time.Millisecond })
	c := dialRaw(t, env.plainAddr, false)
	c.line()
	last := testenv.KeepBusy(c.conn, c.r, "n NOOP\r\n")
	if last != "* BYE No login within 300ms; closing the connection" {
		t.Fatalf("last line of an unauthenticated connection kept busy: %q", last)
	}
}
