package e2e

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testpki"
)

// TestPublishMTASTSAndCheckRecords: with mta_sts.mode set, the http
// listener serves the policy to mta-sts.DOMAIN of a local domain (and
// nothing to other names), dns-records prints the _mta-sts, _smtp._tls
// and TLSA records to publish, and -check compares them with DNS.
func TestPublishMTASTSAndCheckRecords(t *testing.T) {
	t.Parallel()
	ca := testpki.New(t)
	cert := ca.Issue(t, "mail.mg.test", "mta-sts.mg.test")
	dir := t.TempDir()
	certFile, keyFile := testpki.WriteFiles(t, dir, cert)
	spki := sha256.Sum256(cert.Leaf.RawSubjectPublicKeyInfo)
	dns := dnstest.Start(t, "mg.test. 60 IN MX 10 mail.mg.test.", `mg.test. 60 IN TXT "v=spf1 a -all"`,
		fmt.Sprintf("_25._tcp.mail.mg.test. 60 IN TLSA 3 1 1 %x", spki))
	srv := mgtest.Start(t, mgtest.Options{
		Hostname: "mail.mg.test", LocalDomain: "mg.test", DNS: dns.Addr, Protocols: []string{"smtp", "http"},
		Config: fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\nmta_sts:\n  mode: enforce\n  mx: [mail.mg.test]\n  max_age: 168h\n", certFile, keyFile),
	})
	const policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.mg.test\r\nmax_age: 604800\r\n"
	for host, want := range map[string]string{"mta-sts.mg.test": policy, "mta-sts.other.test": "", "mg.test": ""} {
		req, _ := http.NewRequest("GET", "http://"+srv.Addr["http"]+"/.well-known/mta-sts.txt", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want == "" && resp.StatusCode != 404 || want != "" && (string(body) != want || resp.Header.Get("Content-Type") != "text/plain") {
			t.Errorf("Host %s: %s %q %q", host, resp.Status, resp.Header.Get("Content-Type"), body)
		}
	}
	out, code := mgtest.Run(t, dir, "", "dns-records", "mg.test", "-config", srv.ConfigPath)
	for _, re := range []string{
		`(?m)^_mta-sts\.mg\.test\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{20}"$`,
		`(?m)^mta-sts\.mg\.test\. 3600 IN CNAME mail\.mg\.test\.$`,
		`(?m)^_smtp\._tls\.mg\.test\. 3600 IN TXT "v=TLSRPTv1; rua=mailto:postmaster@mg\.test"$`,
		fmt.Sprintf(`(?m)^_25\._tcp\.mail\.mg\.test\. 3600 IN TLSA 3 1 1 %x$`, spki),
	} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("dns-records lacks %s:\n%s", re, out)
		}
	}
	out, code = mgtest.Run(t, dir, "", "dns-records", "mg.test", "-check", "-config", srv.ConfigPath)
	for _, want := range []string{
		"ok       mg.test. MX\n",
		"DIFFERS  mg.test. TXT: DNS has v=spf1 a -all\n",
		"ok       _25._tcp.mail.mg.test. TLSA\n",
		"MISSING  _mta-sts.mg.test. TXT\n",
		"MISSING  _dmarc.mg.test. TXT\n",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("dns-records -check: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}
