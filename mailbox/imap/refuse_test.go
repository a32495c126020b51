package imap

import (
	"strings"
	"testing"
)

// TestOverLimitOnIMAPS: a connection over imap_max_connections on the
// implicit-TLS listener is told * BYE inside TLS, not in clear text
// (which a TLS client would only see as a broken handshake).
func TestOverLimitOnIMAPS(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.MaxConnections = 1 })
	first := dialRaw(t, env.tlsAddr, true)
	if l := first.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("first connection greeted %q", l)
	}
	over := dialRaw(t, env.tlsAddr, true)
	if l := over.line(); l != "* BYE Too many connections; try again later" {
		t.Fatalf("over the limit on IMAPS: %q, want the BYE over TLS", l)
	}
}
