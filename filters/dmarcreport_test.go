package filters

import (
	"net"
	"strings"
	"sync"
	"testing"

	"mailgate/dmarcrpt"
	"mailgate/resolver"
)

type dmarcRecords struct {
	mu   sync.Mutex
	pubs []dmarcrpt.Published
	evs  []dmarcrpt.Evaluation
}

func (r *dmarcRecords) Record(p dmarcrpt.Published, e dmarcrpt.Evaluation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pubs, r.evs = append(r.pubs, p), append(r.evs, e)
}

// TestDMARCEvaluationsRecorded: what the aggregate report will carry is
// what the filter found and what the server did.
func TestDMARCEvaluationsRecorded(t *testing.T) {
	t.Parallel()
	srv := dmarcDNS(t)
	srv.Add(t, `_dmarc.rua.example. 300 IN TXT "v=DMARC1; p=reject; pct=50; rua=mailto:agg@rua.example"`,
		`rua.example. 300 IN TXT "v=spf1 ip4:192.0.2.1 ~all"`)
	for _, c := range []struct {
		ip, mailFrom, from, disp, spf string
	}{
		{"192.0.2.1", "a@rua.example", "rua.example", "none", "pass"},
		{"192.0.2.99", "a@rua.example", "rua.example", "reject", "fail"},
		{"192.0.2.99", "a@quarantine.example", "quarantine.example", "quarantine", "fail"},
		{"192.0.2.99", "a@sub.org.example", "sub.org.example", "quarantine", "fail"},
	} {
		rec := &dmarcRecords{}
		cfg := testConfig(t, []string{"spf", "dkim_verify", "dmarc"}, "")
		ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr), Percent: func() int { return 0 }, DMARCReports: rec})
		raw := strings.Replace(inbound, "alice@example.com", "alice@"+c.from, 1)
		transact(t, ch, &Conn{IP: net.ParseIP(c.ip), Helo: "mail.example"}, c.mailFrom, []string{"bob@mx.example.org"}, raw)
		if len(rec.evs) != 1 {
			t.Fatalf("%s: %d evaluations recorded", c.from, len(rec.evs))
		}
		e, p := rec.evs[0], rec.pubs[0]
		if e.Disposition != c.disp || e.SPF != c.spf || e.SourceIP != c.ip || e.HeaderFrom != c.from || e.SPFAuth.Scope != "mfrom" {
			t.Errorf("%s: evaluation %+v", c.from, e)
		}
		if c.from == "rua.example" && (p.Pct != 50 || p.P != "reject" || len(p.RUA) != 1 || p.RUA[0] != "mailto:agg@rua.example") {
			t.Errorf("published %+v", p)
		}
		if c.from == "sub.org.example" && p.Domain != "org.example" {
			t.Errorf("policy domain %q, want the organizational domain", p.Domain)
		}
	}
}
