package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	p, err := Parse([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\nextra: ignored\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != Enforce || p.MaxAge != 604800*time.Second || strings.Join(p.MX, ",") != "mail.example.com,*.example.net" {
		t.Fatalf("parsed %+v", p)
	}
	if _, err := Parse([]byte("version: STSv1\nmode: none\nmax_age: 86400\n")); err != nil {
		t.Fatalf("mode none without mx: %v", err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{
		"version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.example\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
		"mode: enforce\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmode: testing\nmx: a.example\nmax_age: 1\n",
		"version: STSv1\nno colon here\n",
		"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n" + strings.Repeat("x: y\n", MaxPolicySize/5),
	} {
		if p, err := Parse([]byte(body)); err == nil {
			t.Errorf("accepted %.60q as %+v", body, p)
		}
	}
}

func TestMatchMX(t *testing.T) {
	p := &Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.Example.COM.":     true,
		"mx1.example.net":       true,
		"example.net":           false,
		"a.b.example.net":       false,
		"mail.example.com.evil": false,
		"xmail.example.com":     false,
	} {
		if got := p.MatchMX(host); got != want {
			t.Errorf("MatchMX(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseTXT(t *testing.T) {
	if id, err := ParseTXT([]string{"v=spf1 -all", "v=STSv1; id=20261205T010101;"}); err != nil || id != "20261205T010101" {
		t.Fatalf("got %q, %v", id, err)
	}
	for _, recs := range [][]string{
		nil,
		{"v=STSv1; id=a", "v=STSv1; id=b"},
		{"v=STSv1;"},
		{"v=STSv1; id=has-dash"},
		{"v=STSv1; id=" + strings.Repeat("a", 33)},
	} {
		if id, err := ParseTXT(recs); err == nil {
			t.Errorf("ParseTXT(%q) = %q, want an error", recs, id)
		}
	}
}
