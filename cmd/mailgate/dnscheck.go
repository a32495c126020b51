package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"mailgate/config"
)

// checkDNSRecords looks up each record of want (zone-file lines, as
// dns-records prints them) and says whether DNS serves it: ok, MISSING,
// or DIFFERS with what DNS has. It returns how many are not ok.
func checkDNSRecords(w io.Writer, cfg *config.Config, want []byte) int {
	bad := 0
	for _, rc := range checkDNSLines(dnsServer(cfg), want) {
		if rc.status != "ok" {
			bad++
		}
		fmt.Fprintf(w, "%-8s %s %s%s\n", rc.status, rc.name, rc.rrtype, rc.detail)
	}
	return bad
}

// recordCheck is one published record's state in DNS.
type recordCheck struct {
	name, rrtype, want string
	status, detail     string // ok, MISSING, DIFFERS, ERROR; ": DNS has ..."
}

// checkDNSLines checks each record of want (zone-file lines) against
// the DNS server; the CLI's -check and the web console share it.
func checkDNSLines(server string, want []byte) []recordCheck {
	var out []recordCheck
	sc := bufio.NewScanner(bytes.NewReader(want))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil || rr == nil {
			continue
		}
		status, detail := checkRecord(server, rr)
		h := rr.Header()
		out = append(out, recordCheck{name: h.Name, rrtype: dns.TypeToString[h.Rrtype], want: rdata(rr), status: status, detail: detail})
	}
	return out
}

// dnsServer is delivery.dns, or the first resolver of /etc/resolv.conf.
func dnsServer(cfg *config.Config) string {
	if cfg.Delivery.DNS != "" {
		return cfg.Delivery.DNS
	}
	if c, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(c.Servers) > 0 {
		return net.JoinHostPort(c.Servers[0], c.Port)
	}
	return "127.0.0.1:53"
}

func checkRecord(server string, want dns.RR) (string, string) {
	h := want.Header()
	q := new(dns.Msg)
	q.SetQuestion(h.Name, h.Rrtype)
	q.RecursionDesired = true
	c := &dns.Client{Timeout: 5 * time.Second}
	m, _, err := c.Exchange(q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.Exchange(q, server)
	}
	if err != nil {
		return "ERROR", ": " + err.Error()
	}
	var have []string
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == h.Rrtype {
			have = append(have, rdata(rr))
		}
	}
	return compareRecord(rdata(want), h.Rrtype, have)
}

// compareRecord: the record is ok when DNS serves it exactly; a TXT
// record of the same kind (v=spf1, v=DMARC1, ...) with other content
// DIFFERS, as does another value of a single-valued type.
func compareRecord(want string, rrtype uint16, have []string) (string, string) {
	for _, h := range have {
		if strings.EqualFold(h, want) {
			return "ok", ""
		}
	}
	for _, h := range have {
		if rrtype != dns.TypeTXT || sameKind(h, want) {
			return "DIFFERS", ": DNS has " + h
		}
	}
	return "MISSING", ""
}

// sameKind compares the first tag of two TXT records ("v=spf1", ...).
func sameKind(a, b string) bool {
	tag := func(s string) string {
		s = strings.Trim(s, `"`)
		if i := strings.IndexAny(s, "; "); i >= 0 {
			s = s[:i]
		}
		return strings.ToLower(s)
	}
	return tag(a) == tag(b)
}

// rdata is a record's data in presentation form, TXT strings joined.
func rdata(rr dns.RR) string {
	if t, ok := rr.(*dns.TXT); ok {
		return strings.Join(t.Txt, "")
	}
	s := rr.String()
	h := rr.Header().String()
	return strings.TrimSpace(strings.TrimPrefix(s, h))
}
