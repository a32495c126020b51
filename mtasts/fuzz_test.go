package mtasts

import (
	"strings"
	"testing"
)

// FuzzPolicy: any body a policy host serves either fails to parse or
// gives a policy that keeps the RFC 8461 rules, and no input panics.
func FuzzPolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"))
	f.Add([]byte("version: STSv1\nmode: none\nmax_age: 0\n"))
	f.Add([]byte("version: STSv1\nmode: testing\nmx: *.\nmax_age: 1\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := Parse(body)
		if err != nil {
			return
		}
		if p.Mode != Enforce && p.Mode != Testing && p.Mode != None || p.Mode != None && len(p.MX) == 0 || p.MaxAge < 0 {
			t.Fatalf("accepted %+v", p)
		}
		for _, mx := range p.MX {
			p.MatchMX(mx)
			p.MatchMX("x." + strings.TrimPrefix(mx, "*."))
		}
		ParseTXT([]string{string(body)})
	})
}
