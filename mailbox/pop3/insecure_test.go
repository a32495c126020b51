package pop3

import (
	"net"
	"testing"

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
