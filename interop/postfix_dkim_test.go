package interop

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
)

// TestDKIMThroughPostfixIntoMailgate: one mailgate (a.test) signs a
// message and hands it to Postfix as its smarthost; Postfix relays it into
// a second mailgate's MX port, which checks the signature with its own
// dkim_verify filter (keys from dnstest) and stores it. The receiving
// mailgate must record dkim=pass in Authentication-Results, dkimpy must
// verify the stored copy, and the message must be intact after two hops.
func TestDKIMThroughPostfixIntoMailgate(t *testing.T) {
	t.Parallel()
	keyDir := t.TempDir()
	out, code := mgtest.Run(t, keyDir, "", "dkim", "keygen", "mg.test", "--selector", "s2", "--out", keyDir)
	if code != 0 {
		t.Fatalf("dkim keygen: %s", out)
	}
	dns := dnstest.Start(t, regexp.MustCompile(`(?m)^s2\._domainkey\.mg\.test\. .*$`).FindString(out))

	receiver := startFull(t, mgtest.Options{DNS: dns.Addr})
	setListenerFilters(t, receiver, "smtp", "dkim_verify")
	pf := startPostfix(t, receiver.Addr["smtp"])
	_, pfPort := hostPort(pf.Addr)
	sender := mgtest.Start(t, mgtest.Options{
		LocalDomain: "a.test",
		Protocols:   []string{"smtp", "submission"},
		Users:       map[string]string{"app@a.test": pass},
		DNS:         dns.Addr,
		Delivery:    "  smarthost:\n    host: 127.0.0.1\n    port: " + pfPort + "\n    tls: none\n",
		Config: "filters:\n  dkim_sign:\n    default_domain: mg.test\n    keys:\n      - domain: mg.test\n        selector: s2\n        file: " +
			filepath.Join(keyDir, "mg.test.s2.pem") + "\n",
	})
	setListenerFilters(t, sender, "submission", "sender_policy", "dkim_sign")

	msg := strings.Replace(testMessage("dkim-two-hops"), "From: Alice <"+user+">", "From: App <app@a.test>", 1)
	c, err := smtp.DialStartTLS(sender.Addr["submission"], sender.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app@a.test", pass)); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("app@a.test", []string{user}, strings.NewReader(msg)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	waitDelivered(t, receiver, 1)
	got := pyRead("poplib", "implicit", "pop3s")(t, receiver)
	checkAll(t, "after mailgate -> Postfix -> mailgate", got, map[string]string{"dkim-two-hops": msg})
	if len(got) != 1 {
		return
	}
	stored := string(got[0])
	if !regexp.MustCompile(`(?m)^Authentication-Results: .*dkim=pass`).MatchString(strings.ReplaceAll(stored, "\r\n\t", " ")) {
		t.Errorf("receiving mailgate did not record dkim=pass:\n%s", stored)
	}
	if !strings.Contains(stored, "by postfix.test (Postfix)") {
		t.Errorf("message did not pass through Postfix:\n%s", stored)
	}
	if v := dkimVerify(t, dns.Addr, got[0]); v != "dkim=pass d=mg.test" {
		t.Errorf("dkimpy on the stored copy: %q", v)
	}
}
