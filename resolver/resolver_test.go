package resolver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

func TestResolverUsesConfiguredServer(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t,
		"example.test. 300 IN MX 10 mx.example.test.",
		"mx.example.test. 300 IN A 127.0.0.1",
		"null.test. 300 IN MX 0 .",
	)
	srv.ServFail("broken.test")
	r := resolver.New(srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	mx, err := r.LookupMX(ctx, "example.test")
	if err != nil || len(mx) != 1 || mx[0].Host != "mx.example.test." || mx[0].Pref != 10 {
		t.Fatalf("MX example.test = %v, %v; want mx.example.test. pref 10", mx, err)
	}
	mx, err = r.LookupMX(ctx, "null.test")
	if err != nil || len(mx) != 1 || mx[0].Host != "." {
		t.Fatalf("null MX = %v, %v; want one MX with host \".\"", mx, err)
	}
	_, err = r.LookupMX(ctx, "nxdomain.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Fatalf("nxdomain: err = %v; want IsNotFound", err)
	}
	_, err = r.LookupMX(ctx, "broken.test")
	if !errors.As(err, &de) || !de.IsTemporary {
		t.Fatalf("servfail: err = %#v; want IsTemporary", err)
	}
}
