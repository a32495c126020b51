package srs

import (
	"strings"
	"testing"
)

// FuzzReverse: any recipient address reverses, is refused or is not SRS,
// never panics; what Forward makes always reverses to what it was given.
func FuzzReverse(f *testing.F) {
	f.Add("SRS0=AAAA=AA=example.org=bob@fwd.example", "bob@example.org")
	f.Add("SRS1=AAAA=hop.example==AAAA=AA=d=u@fwd.example", "SRS0+x=y@hop")
	f.Add("srs0=@", "@")
	r := rewriter(day0, "fuzz-secret-1234")
	f.Fuzz(func(t *testing.T, addr, sender string) {
		_, _ = r.Reverse(addr)
		_ = IsSRS(addr)
		local, domain, ok := split(sender)
		if !ok || IsSRS(sender) || local == "" {
			return
		}
		out, err := r.Forward(sender, "fwd.example")
		if err != nil {
			if !strings.ContainsAny(domain, "=@") {
				t.Fatalf("Forward(%q): %v", sender, err)
			}
			return
		}
		back, err := r.Reverse(out)
		if err != nil || !strings.EqualFold(back, sender) {
			t.Fatalf("Forward(%q) = %q, which reverses to %q, %v", sender, out, back, err)
		}
	})
}
