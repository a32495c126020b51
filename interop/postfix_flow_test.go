package interop

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestPostfixRelaysIntoMailgate: a message handed to Postfix for
// alice@localhost is relayed by Postfix into mailgate's MX port and
// reaches alice's mailbox intact.
func TestPostfixRelaysIntoMailgate(t *testing.T) {
	t.Parallel()
	srv := startFull(t, mgtest.Options{})
	pf := startPostfix(t, srv.Addr["smtp"])
	msg := testMessage("via-postfix")
	sendPlain(t, pf.Addr, "someone@sender.test", user, msg)
	waitDelivered(t, srv, 1)
	got := pyRead("poplib", "implicit", "pop3s")(t, srv)
	checkAll(t, "poplib after Postfix", got, map[string]string{"via-postfix": msg})
	if len(got) == 1 && !strings.Contains(string(got[0]), "by postfix.test (Postfix)") {
		t.Errorf("no Received header of Postfix's hop:\n%s", got[0])
	}
	// Postfix (smtp_tls_security_level=may) used STARTTLS into mailgate.
	if len(got) == 1 && !strings.Contains(string(got[0]), "with ESMTPS id") {
		t.Errorf("Postfix did not use TLS into mailgate's MX:\n%s", got[0])
	}
}

// sendPlain sends msg over plain SMTP without AUTH (to a relay that
// trusts loopback).
func sendPlain(t *testing.T, addr, from, to, msg string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("SMTP to %s: %v", addr, err)
	}
}

// TestMailgateDeliversToPostfix: alice submits to mailgate, which signs
// with DKIM and delivers to Postfix, once as its smarthost and once as
// the MX found through DNS (port override). The message must arrive in
// Postfix's Maildir intact, and dkimpy must verify mailgate's signature
// there, with the key served from the test DNS server.
func TestMailgateDeliversToPostfix(t *testing.T) {
	t.Parallel()
	pf := startPostfix(t, "")
	keyDir := t.TempDir()
	out, code := mgtest.Run(t, keyDir, "", "dkim", "keygen", "mg.test", "--selector", "s1", "--out", keyDir)
	if code != 0 {
		t.Fatalf("dkim keygen: %s", out)
	}
	txt := regexp.MustCompile(`(?m)^s1\._domainkey\.mg\.test\. .*$`).FindString(out)
	dns := dnstest.Start(t, txt,
		"pf.test. 300 IN MX 10 mx.pf.test.",
		"mx.pf.test. 300 IN A 127.0.0.1")
	_, pfPort := hostPort(pf.Addr)
	dkimCfg := "filters:\n  dkim_sign:\n    default_domain: mg.test\n    keys:\n      - domain: mg.test\n        selector: s1\n        file: " +
		filepath.Join(keyDir, "mg.test.s1.pem") + "\n"
	routes := []struct{ name, delivery string }{
		{"smarthost", "  smarthost:\n    host: 127.0.0.1\n    port: " + pfPort + "\n    tls: starttls\n    ca_file: " + pf.CAFile + "\n"},
		{"mx", "  port: " + pfPort + "\n"},
	}
	for i, r := range routes {
		srv := startFull(t, mgtest.Options{DNS: dns.Addr, Delivery: r.delivery, Config: dkimCfg})
		setListenerFilters(t, srv, "submission", "sender_policy", "dkim_sign")
		msg := testMessage("to-postfix-" + r.name)
		submit(t, srv, "bob@pf.test", msg)
		got := pf.waitMaildir(t, "bob", i+1)
		var m []byte
		for _, g := range got {
			if subjectTag(string(g)) == "to-postfix-"+r.name {
				m = g
			}
		}
		if m == nil {
			t.Fatalf("%s: Postfix's Maildir has no message from this route", r.name)
		}
		checkDelivered(t, "Postfix Maildir via "+r.name, m, msg)
		// Both routes use STARTTLS: verified against ca_file for the
		// smarthost, opportunistic for MX.
		if !regexp.MustCompile(`by postfix\.test \(Postfix\) with ESMTPS`).Match(m) {
			t.Errorf("%s: mailgate did not use STARTTLS to Postfix:\n%s", r.name, m)
		}
		if !strings.Contains(string(m), "DKIM-Signature: ") || !strings.Contains(string(m), "d=mg.test") {
			t.Errorf("%s: no DKIM-Signature of d=mg.test:\n%s", r.name, m)
		}
		if v := dkimVerify(t, dns.Addr, m); v != "dkim=pass d=mg.test" {
			t.Errorf("%s: dkimpy says %q after the hop through Postfix", r.name, v)
		}
	}
}

// submit sends msg as user over the submission port with STARTTLS.
func submit(t *testing.T, srv *mgtest.Server, to, msg string) {
	t.Helper()
	c, err := smtp.DialStartTLS(srv.Addr["submission"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(user, []string{to}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submission: %v", err)
	}
}

// dkimScript verifies the first DKIM signature with dkimpy, looking the
// key up in the test DNS server given on the command line.
const dkimScript = `import sys, dkim, dns.resolver
host, port = sys.argv[1], int(sys.argv[2])
r = dns.resolver.Resolver(configure=False)
r.nameservers = [host]
r.port = port
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    ans = r.resolve(name, "TXT")
    return b"".join(b"".join(rd.strings) for rd in ans)
d = dkim.DKIM(sys.stdin.buffer.read())
ok = d.verify(dnsfunc=dnsfunc)
print("dkim=%s d=%s" % ("pass" if ok else "fail", (d.domain or b"").decode()))
`

// dkimVerify runs dkimScript with the Python that python3-dkim is
// installed for (the interpreter of its dkimverify program).
func dkimVerify(t *testing.T, dnsAddr string, msg []byte) string {
	t.Helper()
	f, err := os.Open(testenv.Tool(t, "dkimverify"))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := bufio.NewReader(f).ReadString('\n')
	f.Close()
	python := strings.TrimSpace(strings.TrimPrefix(first, "#!"))
	script := writeFile(t, t.TempDir(), "verify.py", dkimScript)
	h, p := hostPort(dnsAddr)
	return strings.TrimSpace(run(t, "", string(msg), python, script, h, p))
}
