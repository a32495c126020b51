package filters

import (
	"net"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

const inbound = `From: Alice <alice@example.com>
To: bob@mx.example.org
Subject: Hello
Date: Wed, 25 Nov 2026 10:00:00 +0000
Message-ID: <1@example.com>

Hi Bob.
`

func spfChain(t *testing.T, filtersYAML string) *Chain {
	srv := dnstest.Start(t,
		`example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`soft.example. 300 IN TXT "v=spf1 ~all"`,
		`neutral.example. 300 IN TXT "v=spf1 ?all"`,
		`broken.example. 300 IN TXT "v=spf1 ip4:nonsense -all"`,
		`helo.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"`)
	srv.ServFail("servfail.example")
	cfg := testConfig(t, []string{"spf"}, filtersYAML)
	return newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
}

func TestSPFFilter(t *testing.T) {
	t.Parallel()
	ch := spfChain(t, "")
	cases := []struct {
		name, ip, helo, from string
		reply                string // "" = accepted
		header               []string
	}{
		{"pass", "192.0.2.1", "mail.example.com", "alice@example.com", "", []string{
			"Authentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=alice@example.com\r\n",
			`Received-SPF: pass (mx.example.org: domain of example.com designates 192.0.2.1 as permitted sender) client-ip=192.0.2.1; envelope-from="alice@example.com"; helo="mail.example.com"; receiver=mx.example.org; identity=mailfrom` + "\r\n"}},
		{"fail", "192.0.2.99", "mail.example.com", "alice@example.com",
			"550 5.7.23 SPF fail: 192.0.2.99 is not allowed to send mail for example.com; send through a server listed in its SPF record", nil},
		{"temperror", "192.0.2.99", "x", "a@servfail.example",
			"451 4.7.24 SPF check of servfail.example failed with a temporary DNS error; try again later", nil},
		{"softfail tagged", "192.0.2.99", "x", "a@soft.example", "", []string{
			"spf=softfail smtp.mailfrom=a@soft.example", "X-Mailgate-Verdict: spf=softfail\r\n"}},
		{"neutral tagged", "192.0.2.99", "x", "a@neutral.example", "", []string{"X-Mailgate-Verdict: spf=neutral\r\n"}},
		{"permerror tagged", "192.0.2.99", "x", "a@broken.example", "", []string{"spf=permerror", "X-Mailgate-Verdict: spf=permerror\r\n"}},
		{"none", "192.0.2.99", "x", "a@nospf.example", "", []string{"spf=none smtp.mailfrom=a@nospf.example"}},
		{"null sender uses HELO", "192.0.2.1", "helo.example", "", "", []string{
			"spf=pass smtp.helo=helo.example", "identity=helo"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conn := &Conn{SessionID: "t", IP: net.ParseIP(c.ip), Helo: c.helo}
			reply, msg := transact(t, ch, conn, c.from, []string{"bob@mx.example.org"}, inbound)
			if reply != c.reply {
				t.Fatalf("reply %q, want %q", reply, c.reply)
			}
			if msg == nil {
				return
			}
			for _, h := range c.header {
				if !strings.Contains(string(msg.Prepend), h) {
					t.Errorf("added header lacks %q:\n%s", h, msg.Prepend)
				}
			}
		})
	}
}

func TestSPFActionsConfigurable(t *testing.T) {
	t.Parallel()
	ch := spfChain(t, "filters:\n  spf:\n    actions: {softfail: reject, fail: tempfail, temperror: accept}\n")
	cases := []struct{ ip, from, reply string }{
		{"192.0.2.99", "a@soft.example", "550 5.7.23 SPF softfail: 192.0.2.99 is not allowed to send mail for soft.example; send through a server listed in its SPF record"},
		{"192.0.2.99", "alice@example.com", "451 4.7.23 SPF fail: 192.0.2.99 is not allowed to send mail for example.com; send through a server listed in its SPF record"},
		{"192.0.2.99", "a@servfail.example", ""},
	}
	for _, c := range cases {
		reply, _ := transact(t, ch, &Conn{IP: net.ParseIP(c.ip), Helo: "x"}, c.from, []string{"bob@mx.example.org"}, inbound)
		if reply != c.reply {
			t.Errorf("%s: reply %q, want %q", c.from, reply, c.reply)
		}
	}
}

// TestOurAuthResultsRemoved: an incoming Authentication-Results claiming
// our authserv-id is a forgery and is removed; others are kept.
func TestOurAuthResultsRemoved(t *testing.T) {
	t.Parallel()
	ch := spfChain(t, "")
	raw := "Authentication-Results: MX.example.org;\n spf=pass smtp.mailfrom=alice@example.com\n" +
		"Authentication-Results: other.example; dkim=pass header.d=example.com\n" + inbound
	_, msg := transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.99"), Helo: "x"}, "a@nospf.example", []string{"bob@mx.example.org"}, raw)
	out := final(msg)
	if n := strings.Count(out, "Authentication-Results: mx.example.org"); n != 1 {
		t.Errorf("%d A-R fields with our id, want only ours:\n%s", n, out)
	}
	if strings.Contains(out, "MX.example.org") || !strings.Contains(out, "Authentication-Results: other.example; dkim=pass") {
		t.Errorf("forged field kept or foreign field lost:\n%s", out)
	}
	if !strings.Contains(out, "spf=none") {
		t.Errorf("our own result missing:\n%s", out)
	}
}
