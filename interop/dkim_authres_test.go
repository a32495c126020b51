package interop

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestDKIMAuthResultsNameEachSignature: a message that dkimpy signed twice
// for one domain (selectors s1 and s2), sent with swaks to the MX port,
// is stored with one dkim=pass per signature, each naming its selector
// (header.s) and the first 8 characters of its b= (header.b, RFC 6008),
// so that a reader can tell which signature passed.
func TestDKIMAuthResultsNameEachSignature(t *testing.T) {
	t.Parallel()
	swaks, dkimsign := testenv.Tool(t, "swaks"), testenv.Tool(t, "dkimsign")
	dir := t.TempDir()
	var records []string
	for _, sel := range []string{"s1", "s2"} {
		out, code := mgtest.Run(t, dir, "", "dkim", "keygen", "mg.test", "--selector", sel, "--out", dir)
		if code != 0 {
			t.Fatalf("dkim keygen: %s", out)
		}
		records = append(records, regexp.MustCompile(`(?m)^`+sel+`\._domainkey\.mg\.test\. .*$`).FindString(out))
	}
	dns := dnstest.Start(t, records...)
	srv := startFull(t, mgtest.Options{DNS: dns.Addr, Filters: map[string][]string{"smtp": {"dkim_verify"}}})

	msg := strings.Replace(testMessage("dkim-two-selectors"), "From: Alice <"+user+">", "From: News <news@mg.test>", 1)
	for _, sel := range []string{"s1", "s2"} {
		msg = run(t, dir, msg, dkimsign, sel, "mg.test", filepath.Join(dir, "mg.test."+sel+".pem"))
	}
	file := writeFile(t, dir, "signed.eml", msg)
	h, p := hostPort(srv.Addr["smtp"])
	run(t, dir, "", swaks, "--server", h, "--port", p, "--from", "news@mg.test", "--to", user, "--data", file, "--timeout", "60")
	waitDelivered(t, srv, 1)
	got := pyRead("imaplib", "implicit", "imaps")(t, srv)
	if len(got) != 1 {
		t.Fatalf("fetched %d messages, want 1", len(got))
	}
	stored := unfold(string(got[0]))
	for _, sel := range []string{"s1", "s2"} {
		b := sigB(t, msg, sel)
		want := "dkim=pass header.b=" + b[:8] + " header.d=mg.test header.s=" + sel
		if !strings.Contains(stored, want) {
			t.Errorf("stored message lacks %q:\n%.1500s", want, stored)
		}
	}
}

// unfold joins folded header lines and makes line ends LF.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return regexp.MustCompile(`\n[ \t]+`).ReplaceAllString(s, " ")
}

// sigB returns the b= value, without whitespace, of the DKIM-Signature
// field of msg with selector sel.
func sigB(t *testing.T, msg, sel string) string {
	t.Helper()
	for _, line := range strings.Split(unfold(msg), "\n") {
		if !strings.HasPrefix(line, "DKIM-Signature:") || !regexp.MustCompile(`[; ]s=`+sel+`;`).MatchString(line) {
			continue
		}
		if m := regexp.MustCompile(`[; ]b=([^;]+)`).FindStringSubmatch(line); m != nil {
			return strings.Join(strings.Fields(m[1]), "")
		}
	}
	t.Fatalf("no DKIM-Signature with s=%s in:\n%s", sel, msg)
	return ""
}
