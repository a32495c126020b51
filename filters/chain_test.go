package filters

import (
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

// counter returns the value of mailgate_filters_verdicts_total for labels.
func counter(t *testing.T, reg *prometheus.Registry, filter, result, action string) float64 {
	t.Helper()
	return metricValue(t, reg, "mailgate_filters_verdicts_total", "filter", filter, "result", result, "action", action)
}

func TestChainMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	srv := dnstest.Start(t, `example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`)
	cfg := testConfig(t, []string{"spf"}, "")
	ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr), Registerer: reg})
	transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.1"), Helo: "x"}, "a@example.com", []string{"b@mx.example.org"}, inbound)
	for i := 0; i < 2; i++ {
		transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.9"), Helo: "x"}, "a@example.com", []string{"b@mx.example.org"}, inbound)
	}
	if got := counter(t, reg, "spf", "pass", "accept"); got != 1 {
		t.Errorf("spf pass/accept = %v, want 1", got)
	}
	if got := counter(t, reg, "spf", "fail", "reject"); got != 2 {
		t.Errorf("spf fail/reject = %v, want 2", got)
	}
	// A second listener's chain on the same registerer shares the counters.
	ch2 := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr), Registerer: reg})
	transact(t, ch2, &Conn{IP: net.ParseIP("192.0.2.1"), Helo: "x"}, "a@example.com", []string{"b@mx.example.org"}, inbound)
	if got := counter(t, reg, "spf", "pass", "accept"); got != 2 {
		t.Errorf("spf pass/accept after the second chain = %v, want 2", got)
	}
	// A nil registerer registers nothing and still works.
	newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
}

// TestChainDKIMVerifyHeader: the DKIM results of an inbound message, one
// per signature, under our authserv-id; l= signatures get dkim=policy.
func TestChainDKIMVerifyHeader(t *testing.T) {
	t.Parallel()
	path, txt := keyPair(t, "ed25519")
	srv := dnstest.Start(t, txtRecord("k._domainkey.example.org", txt))
	srv.ServFail("broken._domainkey.example.org")
	signCfg := testConfig(t, []string{"dkim_sign"}, "filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: k, file: "+path+"}]\n")
	_, signed := transact(t, newChain(t, signCfg, Deps{}), submitConn, "app@example.org", []string{"a@example.net"}, submitted)
	good := final(signed)
	lsig := headerLine("DKIM-Signature", "v=1; a=ed25519-sha256; d=example.org; s=k; l=10; h=from; bh=AAAA; b=AAAA")
	tempSig := headerLine("DKIM-Signature", "v=1; a=ed25519-sha256; d=example.org; s=broken; h=from; bh=AAAA; b=AAAA")

	cfg := testConfig(t, []string{"dkim_verify"}, "")
	ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
	conn := &Conn{IP: net.ParseIP("192.0.2.1"), Helo: "x"}
	cases := []struct{ name, raw, want string }{
		{"valid", good, "Authentication-Results: mx.example.org;\r\n\tdkim=pass header.b=B header.d=example.org header.s=k\r\n"},
		{"l= policy", string(lsig) + good, "Authentication-Results: mx.example.org;\r\n\tdkim=policy reason=\"body length tag l= not accepted\" header.b=AAAA header.d=example.org header.s=k;\r\n\tdkim=pass header.b=B header.d=example.org header.s=k\r\n"},
		{"dns temperror", string(tempSig) + good, "Authentication-Results: mx.example.org;\r\n\tdkim=temperror reason=\"key unavailable\" header.b=AAAA header.d=example.org header.s=broken;\r\n\tdkim=pass"},
		{"body changed", strings.Replace(good, "invoice attached", "invoice", 1), "Authentication-Results: mx.example.org;\r\n\tdkim=fail reason=\"body hash did not verify\" header.b=B header.d=example.org header.s=k\r\nX-Mailgate-Verdict: dkim_verify=fail\r\n"},
		{"unsigned", submitted, "Authentication-Results: mx.example.org;\r\n\tdkim=none\r\n"},
	}
	// header.b is the first 8 characters of the signature's b= (RFC 6008).
	b := tagValue(headerValues([]byte(good), "DKIM-Signature")[0], "b")[:8]
	for _, c := range cases {
		reply, msg := transact(t, ch, conn, "app@example.org", []string{"b@mx.example.org"}, c.raw)
		if reply != "" {
			t.Fatalf("%s: %s", c.name, reply)
		}
		c.want = strings.ReplaceAll(c.want, "header.b=B ", "header.b="+b+" ")
		if !strings.HasPrefix(string(msg.Prepend), c.want) {
			t.Errorf("%s: got\n%s\nwant prefix\n%s", c.name, msg.Prepend, c.want)
		}
	}
}

// TestChainTransactionsOnOneConnection: each MAIL starts afresh, so the
// second message carries only its own results, with or without RSET.
func TestChainTransactionsOnOneConnection(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t, `example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`, `soft.example. 300 IN TXT "v=spf1 ~all"`)
	ch := newChain(t, testConfig(t, []string{"spf"}, ""), Deps{Resolver: resolver.New(srv.Addr)})
	ctx := t.Context()
	txn := ch.Begin(ctx, &Conn{IP: net.ParseIP("192.0.2.1"), Helo: "x"})
	defer txn.Close()
	var got []string
	for _, from := range []string{"a@soft.example", "a@example.com"} {
		if err := txn.Mail(ctx, from); err != nil {
			t.Fatal(err)
		}
		if err := txn.Rcpt(ctx, "b@mx.example.org"); err != nil {
			t.Fatal(err)
		}
		msg := NewMessage(from, nil, []byte(crlf(inbound)))
		if err := txn.Data(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(msg.Prepend))
	}
	if strings.Count(got[1], "spf=") != 1 || strings.Contains(got[1], "softfail") {
		t.Errorf("second message carries the first one's results:\n%s", got[1])
	}
}
