package accounts

import (
	"strings"
	"testing"
)

// FuzzAddress feeds recipient addresses to the functions local delivery
// relies on: SplitAddress, Expand and Lookup, over a small account
// database (alice, bob with the alias robert, in example.com). No input
// may map to an account outside the address's own domain, or to an
// address that is not an account of ours, and a +tag must come from the
// address itself.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"alice@example.com", "ALICE@EXAMPLE.COM", "alice+tag@example.com", "robert@example.com",
		"bob+a+b@example.com", "alice@example.com@evil.test", "alice@evil.test", "alice%evil.test@example.com",
		"@example.com", "alice@", "", "+@example.com", "alice+../../x@example.com", "\"alice\"@example.com",
		"alice@example.com.", "alice@EXAMPLE.com", "a\x00lice@example.com", "alice@exa\x00mple.com",
	} {
		f.Add(s)
	}
	a, err := OpenAccounts(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	for _, acc := range []Account{{Address: "alice@example.com"}, {Address: "bob@example.com", Aliases: []string{"robert@example.com"}}} {
		if err := a.Add(acc, "pw"); err != nil {
			f.Fatal(err)
		}
	}
	isLocal := func(d string) bool { return d == "example.com" }
	f.Fuzz(func(t *testing.T, addr string) {
		local, domain := SplitAddress(addr)
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			if local != addr[:i] || domain != strings.ToLower(addr[i+1:]) {
				t.Fatalf("SplitAddress(%q) = %q, %q", addr, local, domain)
			}
		} else if local != addr || domain != "" {
			t.Fatalf("SplitAddress(%q) = %q, %q", addr, local, domain)
		}
		if targets, ok := a.Expand(addr, isLocal); ok {
			for _, tg := range targets {
				if !isLocal(domain) {
					if tg != addr {
						t.Fatalf("Expand(%q) rewrote a remote address to %q", addr, tg)
					}
					continue
				}
				acct, folder, ok := a.Lookup(tg)
				if !ok || (acct != "alice@example.com" && acct != "bob@example.com") {
					t.Fatalf("Expand(%q) -> %q, which is no account (%q, %v)", addr, tg, acct, ok)
				}
				if folder != "" && !strings.Contains(strings.ToLower(addr), "+"+strings.ToLower(folder)) {
					t.Fatalf("Expand(%q) -> %q names folder %q that the address does not", addr, tg, folder)
				}
			}
		}
		if acct, _, ok := a.Lookup(addr); ok {
			_, ad := SplitAddress(acct)
			if ad != domain {
				t.Fatalf("Lookup(%q) = %q: another domain", addr, acct)
			}
		}
	})
}
