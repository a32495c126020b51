package dane

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/testpki"
)

func chainOf(t *testing.T, ca *testpki.CA, from, until time.Time, names ...string) []*x509.Certificate {
	c := ca.IssueValid(t, from, until, names...)
	var out []*x509.Certificate
	for _, der := range c.Certificate {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

func rec(usage, sel, mt uint8, c *x509.Certificate) TLSA {
	data := c.Raw
	if sel == SelectorSPKI {
		data = c.RawSubjectPublicKeyInfo
	}
	switch mt {
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	}
	return TLSA{usage, sel, mt, data}
}

func TestVerify(t *testing.T) {
	ca := testpki.New(t)
	now := time.Now()
	good := chainOf(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "mx.example.com")
	expired := chainOf(t, ca, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mx.example.com")
	wrongName := chainOf(t, ca, now.Add(-time.Hour), now.Add(time.Hour), "other.example.net")
	other := chainOf(t, testpki.New(t), now.Add(-time.Hour), now.Add(time.Hour), "mx.example.com")
	names := []string{"mx.example.com"}
	for _, tc := range []struct {
		name  string
		chain []*x509.Certificate
		recs  []TLSA
		ok    bool
	}{
		{"3 1 1", good, []TLSA{rec(3, 1, 1, good[0])}, true},
		{"3 0 1", good, []TLSA{rec(3, 0, 1, good[0])}, true},
		{"3 0 0", good, []TLSA{rec(3, 0, 0, good[0])}, true},
		{"3 1 2", good, []TLSA{rec(3, 1, 2, good[0])}, true},
		{"3 1 1 ignores dates", expired, []TLSA{rec(3, 1, 1, expired[0])}, true},
		{"3 1 1 ignores names", wrongName, []TLSA{rec(3, 1, 1, wrongName[0])}, true},
		{"3 1 1 mismatch", other, []TLSA{rec(3, 1, 1, good[0])}, false},
		{"2 1 1", good, []TLSA{rec(2, 1, 1, ca.Cert)}, true},
		{"2 0 1", good, []TLSA{rec(2, 0, 1, ca.Cert)}, true},
		{"2 0 2", good, []TLSA{rec(2, 0, 2, ca.Cert)}, true},
		{"2 1 1 wrong name", wrongName, []TLSA{rec(2, 1, 1, ca.Cert)}, false},
		{"2 1 1 expired", expired, []TLSA{rec(2, 1, 1, ca.Cert)}, false},
		{"2 1 1 other CA", other, []TLSA{rec(2, 1, 1, ca.Cert)}, false},
		{"one of several", good, []TLSA{rec(3, 1, 1, other[0]), rec(2, 1, 1, ca.Cert)}, true},
		{"unknown matching type skipped", good, []TLSA{{3, 1, 9, []byte{1}}, rec(3, 1, 1, good[0])}, true},
	} {
		err := Verify(tc.chain, tc.recs, names, now)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if err := Verify(good, []TLSA{rec(1, 1, 1, good[0]), rec(0, 1, 1, ca.Cert)}, names, now); !errors.Is(err, ErrNoUsable) {
		t.Errorf("PKIX usages only: %v, want ErrNoUsable", err)
	}
}

func TestResolverReadsADAndTLSA(t *testing.T) {
	ca := testpki.New(t)
	leaf := chainOf(t, ca, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mx.example.com")[0]
	r := rec(3, 1, 1, leaf)
	d := dnstest.Start(t,
		"example.com. 300 IN MX 10 mx.example.com.",
		fmt.Sprintf("_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 %x", r.Data),
		"insecure.example. 300 IN MX 10 mx.insecure.example.",
	)
	d.Secure("example.com", "_25._tcp.mx.example.com")
	d.ServFail("_25._tcp.broken.example.com")
	res := &Resolver{Server: d.Addr, Timeout: 5 * time.Second}
	ctx := context.Background()
	if ok, err := res.SecureMX(ctx, "example.com"); !ok || err != nil {
		t.Fatalf("SecureMX(example.com) = %v, %v", ok, err)
	}
	if ok, err := res.SecureMX(ctx, "insecure.example"); ok || err != nil {
		t.Fatalf("SecureMX(insecure.example) = %v, %v", ok, err)
	}
	a, err := res.TLSA(ctx, "mx.example.com", 25)
	if err != nil || !a.Secure || !a.Exists || len(a.TLSA) != 1 || a.TLSA[0].String() != r.String() {
		t.Fatalf("TLSA = %+v, %v", a, err)
	}
	if a, err := res.TLSA(ctx, "mx.insecure.example", 25); err != nil || a.Exists {
		t.Fatalf("no TLSA: %+v, %v", a, err)
	}
	if _, err := res.TLSA(ctx, "broken.example.com", 25); err == nil {
		t.Fatal("SERVFAIL gave no error")
	}
}

func TestResolverHostAddresses(t *testing.T) {
	d := dnstest.Start(t,
		"mx.example.com. 300 IN A 127.0.0.1",
		"v6.example.com. 300 IN AAAA ::1",
		"alias.example.com. 300 IN CNAME mx.hoster.example.",
		"mx.hoster.example. 300 IN A 127.0.0.2",
		"plain.example. 300 IN A 127.0.0.3",
	)
	d.Secure("mx.example.com", "v6.example.com", "alias.example.com")
	d.ServFail("bogus.example.com")
	res := &Resolver{Server: d.Addr, Timeout: 5 * time.Second}
	ctx := context.Background()
	for _, tc := range []struct {
		host, want string
	}{
		{"mx.example.com", "true [mx.example.com]"},
		{"v6.example.com", "true [v6.example.com]"},
		{"alias.example.com", "true [mx.hoster.example alias.example.com]"},
		{"plain.example", "false [plain.example]"},
		{"missing.example", "false [missing.example]"},
	} {
		ha, err := res.Host(ctx, tc.host)
		if got := fmt.Sprint(ha.Secure, " ", ha.Names); err != nil || got != tc.want {
			t.Errorf("Host(%s) = %s, %v; want %s", tc.host, got, err, tc.want)
		}
	}
	if _, err := res.Host(ctx, "bogus.example.com"); err == nil {
		t.Error("SERVFAIL gave no error")
	}
}
