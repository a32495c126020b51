// Package resolver builds the DNS resolver used for MX, SPF, DKIM and DMARC
// lookups. The config can point it at any DNS server, which is how tests
// answer from a server on loopback and never reach the machine's resolver.
package resolver

import (
	"context"
	"net"
	"time"
)

// Resolver is the subset of *net.Resolver that mailgate uses. Errors are
// *net.DNSError: IsNotFound for NXDOMAIN or no records, IsTemporary or
// IsTimeout for SERVFAIL and timeouts.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// New returns a resolver that sends every query to server (host:port), or
// the system resolver when server is empty.
func New(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
}
