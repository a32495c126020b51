package filters

import (
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

func TestDMARCAlignment(t *testing.T) {
	t.Parallel()
	r, s := dmarc.AlignmentMode(dmarc.AlignmentRelaxed), dmarc.AlignmentStrict
	cases := []struct {
		id, from string
		mode     dmarc.AlignmentMode
		want     bool
	}{
		{"example.com", "example.com", r, true},
		{"example.com", "example.com", s, true},
		{"EXAMPLE.com.", "example.com", s, true},
		{"mail.example.com", "example.com", r, true},
		{"mail.example.com", "example.com", s, false},
		{"example.com", "news.example.com", r, true},
		{"example.com", "news.example.com", s, false},
		{"a.example.com", "b.example.com", r, true},
		{"example.net", "example.com", r, false},
		{"a.example.co.uk", "b.example.co.uk", r, true}, // public suffix co.uk
		{"example.co.uk", "other.co.uk", r, false},
		{"co.uk", "example.co.uk", r, false},
		{"alice.github.io", "bob.github.io", r, false}, // private suffix github.io
		{"", "example.com", r, false},
	}
	for _, c := range cases {
		if got := alignedDomain(c.id, c.from, c.mode); got != c.want {
			t.Errorf("alignedDomain(%q, %q, %s) = %v, want %v", c.id, c.from, c.mode, got, c.want)
		}
	}
}

// dmarcDNS serves SPF records that allow 192.0.2.1 (and soft-fail the
// rest), and one DMARC record per policy under test.
func dmarcDNS(t *testing.T) *dnstest.Server {
	srv := dnstest.Start(t)
	for _, d := range []string{"reject.example", "quarantine.example", "none.example", "pct.example", "org.example", "bounces.example", "nopolicy.example", "sub.org.example"} {
		srv.Add(t, d+`. 300 IN TXT "v=spf1 ip4:192.0.2.1 ~all"`)
	}
	srv.Add(t,
		`_dmarc.reject.example. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.quarantine.example. 300 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.none.example. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.pct.example. 300 IN TXT "v=DMARC1; p=reject; pct=30"`,
		`_dmarc.org.example. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine; aspf=s"`,
		`_dmarc.strict.example. 300 IN TXT "v=DMARC1; p=reject; aspf=s"`,
		`mail.strict.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`mail.reject.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`)
	srv.ServFail("_dmarc.tempfail.example")
	return srv
}

func TestDMARCPolicies(t *testing.T) {
	t.Parallel()
	srv := dmarcDNS(t)
	const good, bad = "192.0.2.1", "192.0.2.99"
	cases := []struct {
		name, ip, mailFrom, from string
		percent                  int
		reply                    string
		quarantine               bool
		header                   string
	}{
		{"spf aligned", good, "a@reject.example", "reject.example", 0, "", false, "dmarc=pass header.from=reject.example"},
		{"reject", bad, "a@reject.example", "reject.example", 0,
			"550 5.7.1 DMARC policy of reject.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"spf passes but not aligned", good, "b@bounces.example", "reject.example", 0,
			"550 5.7.1 DMARC policy of reject.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"quarantine", bad, "a@quarantine.example", "quarantine.example", 0, "", true, `dmarc=fail reason="p=quarantine" header.from=quarantine.example`},
		{"none tags", bad, "a@none.example", "none.example", 0, "", false, "X-Mailgate-Verdict: spf=softfail, dmarc=fail_none"},
		{"pct sampled in", bad, "a@pct.example", "pct.example", 29,
			"550 5.7.1 DMARC policy of pct.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"pct sampled out: quarantine", bad, "a@pct.example", "pct.example", 30, "", true, `reason="p=quarantine"`},
		{"sp for subdomain", bad, "a@sub.org.example", "sub.org.example", 0, "", true, `reason="p=quarantine" header.from=sub.org.example`},
		{"p for org domain", bad, "a@org.example", "org.example", 0,
			"550 5.7.1 DMARC policy of org.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"relaxed spf alignment", good, "a@mail.reject.example", "reject.example", 0, "", false, "dmarc=pass header.from=reject.example"},
		{"strict aspf on org record", good, "a@sub.org.example", "org.example", 0,
			"550 5.7.1 DMARC policy of org.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"strict spf alignment", good, "a@mail.strict.example", "strict.example", 0,
			"550 5.7.1 DMARC policy of strict.example refuses this message: neither SPF nor DKIM aligned with the From domain", false, ""},
		{"no policy", bad, "a@nopolicy.example", "nopolicy.example", 0, "", false, "dmarc=none header.from=nopolicy.example"},
		{"temperror accepted", bad, "a@tempfail.example", "tempfail.example", 0, "", false, `dmarc=temperror reason="DNS temporary error" header.from=tempfail.example`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, []string{"spf", "dkim_verify", "dmarc"}, "")
			ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr), Percent: func() int { return c.percent }})
			raw := strings.Replace(inbound, "alice@example.com", "alice@"+c.from, 1)
			reply, msg := transact(t, ch, &Conn{IP: net.ParseIP(c.ip), Helo: "mail.example"}, c.mailFrom, []string{"bob@mx.example.org"}, raw)
			if reply != c.reply {
				t.Fatalf("reply %q, want %q", reply, c.reply)
			}
			if msg == nil {
				return
			}
			if msg.Quarantine != c.quarantine {
				t.Errorf("quarantine %v, want %v", msg.Quarantine, c.quarantine)
			}
			if !strings.Contains(string(msg.Prepend), c.header) {
				t.Errorf("header lacks %q:\n%s", c.header, msg.Prepend)
			}
		})
	}
}

// TestDMARCDKIMAligned: SPF fails alignment, but a valid DKIM signature of
// the From domain makes DMARC pass.
func TestDMARCDKIMAligned(t *testing.T) {
	t.Parallel()
	srv := dmarcDNS(t)
	path, txt := keyPair(t, "ed25519")
	srv.Add(t, txtRecord("k._domainkey.reject.example", txt))
	signCfg := testConfig(t, []string{"dkim_sign"}, "filters:\n  dkim_sign:\n    keys: [{domain: reject.example, selector: k, file: "+path+"}]\n")
	raw := strings.Replace(inbound, "alice@example.com", "alice@reject.example", 1)
	_, signed := transact(t, newChain(t, signCfg, Deps{}), submitConn, "alice@reject.example", []string{"bob@mx.example.org"}, raw)

	cfg := testConfig(t, []string{"spf", "dkim_verify", "dmarc"}, "")
	ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
	reply, msg := transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.99"), Helo: "x"}, "b@bounces.example", []string{"bob@mx.example.org"}, final(signed))
	if reply != "" {
		t.Fatalf("rejected: %s", reply)
	}
	b := tagValue(headerValues([]byte(final(signed)), "DKIM-Signature")[0], "b")[:8]
	want := "Authentication-Results: mx.example.org;\r\n\tspf=softfail smtp.mailfrom=b@bounces.example;\r\n\tdkim=pass header.b=" + b +
		" header.d=reject.example header.s=k;\r\n\tdmarc=pass header.from=reject.example\r\n"
	if !strings.HasPrefix(string(msg.Prepend), want) {
		t.Errorf("got\n%s\nwant prefix\n%s", msg.Prepend, want)
	}
	// The field parses as RFC 8601 with an independent parser.
	id, results, err := authres.Parse(headerValues(msg.Prepend, "Authentication-Results")[0])
	if err != nil || id != "mx.example.org" || len(results) != 3 {
		t.Errorf("authres.Parse: id %q, %d results, %v", id, len(results), err)
	}
}
