package imap

import (
	"net"
	"testing"

	"mailgate/internal/testenv"
)

// TestInsecureAuthOnlyForLoopbackClients: a listener with InsecureAuth
// refuses a clear-text LOGIN from a client that is not on loopback.
func TestInsecureAuthOnlyForLoopbackClients(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go env.srv.ServeListener(testenv.FarListener{Listener: ln}, Listener{InsecureAuth: true})
	c := dialRaw(t, ln.Addr().String(), false)
	c.line() // greeting
	c.send("a LOGIN alice secret\r\n")
	if got, want := c.line(), "a NO [PRIVACYREQUIRED] TLS is required to authenticate"; got != want {
		t.Fatalf("clear-text LOGIN from 192.0.2.1: %q, want %q", got, want)
	}
}
