package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
)

// dkimSeedKey is the Ed25519 key with seed 00 01 ... 1f; its public key,
// per `openssl pkey -pubout`, is A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=.
const dkimSeedKey = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f
-----END PRIVATE KEY-----
`

// TestOpsDNSRecords: `mailgate dns-records DOMAIN -config FILE` prints
// every record to publish, with the DKIM key of the config and SRV
// records for the client listeners it has ("." for those it lacks), the
// autoconfig and autodiscover names; -check compares the autodiscover
// ones with a DNS server.
func TestOpsDNSRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "example.com.mg1.pem")
	os.WriteFile(key, []byte(dkimSeedKey), 0o600)
	cfgPath := filepath.Join(dir, "mailgate.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`hostname: mail.example.com
data_dir: %s
local_domains: [example.com]
listeners:
  - {name: mx, protocol: smtp, address: "0.0.0.0:25"}
  - {name: submission, protocol: submission, address: "0.0.0.0:587", filters: [sender_policy, dkim_sign]}
  - {name: submissions, protocol: submissions, address: "0.0.0.0:465", filters: [sender_policy, dkim_sign]}
  - {name: imaps, protocol: imaps, address: "[::]:993"}
  - {name: pop3, protocol: pop3, address: "0.0.0.0:110"}
filters:
  dkim_sign:
    keys:
      - {domain: example.com, selector: mg1, file: %s}
`, filepath.Join(dir, "data"), key)), 0o600)

	out, code := mgtest.Run(t, dir, "", "dns-records", "example.com", "-config", cfgPath)
	want := fmt.Sprintf(`; DNS records for example.com, served by mail.example.com (config: %s)

; mail for example.com goes to this server
example.com. 3600 IN MX 10 mail.example.com.

; SPF: this server (the MX) may send for example.com
example.com. 3600 IN TXT "v=spf1 mx -all"

; DKIM: public keys of the dkim_sign filter
mg1._domainkey.example.com. 3600 IN TXT "v=DKIM1; k=ed25519; p=A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="

; DMARC: quarantine mail that fails SPF and DKIM alignment; reports to postmaster
_dmarc.example.com. 3600 IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.com"

; client set-up (RFC 6186, RFC 8314); target "." means not offered
_submissions._tcp.example.com. 3600 IN SRV 0 1 465 mail.example.com.
_submission._tcp.example.com. 3600 IN SRV 0 1 587 mail.example.com.
_imaps._tcp.example.com. 3600 IN SRV 0 1 993 mail.example.com.
_imap._tcp.example.com. 3600 IN SRV 0 0 0 .
_pop3s._tcp.example.com. 3600 IN SRV 0 0 0 .
_pop3._tcp.example.com. 3600 IN SRV 0 1 110 mail.example.com.

; Thunderbird autoconfig: serve the http listener's /mail/config-v1.1.xml as https://autoconfig.example.com/
autoconfig.example.com. 3600 IN CNAME mail.example.com.

; Outlook autodiscover: serve the http listener's /autodiscover/autodiscover.xml over HTTPS on port 443 of mail.example.com (SRV) and as https://autodiscover.example.com/
_autodiscover._tcp.example.com. 3600 IN SRV 0 1 443 mail.example.com.
autodiscover.example.com. 3600 IN CNAME mail.example.com.

; MTA-STS: no policy published (set mta_sts.mode to publish one)

; TLS reporting (RFC 8460): where other servers send reports about TLS to example.com
_smtp._tls.example.com. 3600 IN TXT "v=TLSRPTv1; rua=mailto:postmaster@example.com"

; DANE: no TLSA record: cannot read the certificate %s (start `+"`mailgate serve`"+` once to generate or obtain it)
`, cfgPath, filepath.Join(dir, "data", "tls", "selfsigned.crt"))
	if code != 0 || out != want {
		t.Errorf("exit %d, output:\n%s\nwant:\n%s", code, out, want)
	}

	// Flags first works too; a domain without keys that is not local is
	// flagged as such.
	out, code = mgtest.Run(t, dir, "", "dns-records", "-config", cfgPath, "Other.Example.")
	wantLines(t, "other.example", out, code, 0,
		"; note: other.example is not in local_domains, so mail sent to it is not accepted here\n",
		"; none configured for other.example: run `mailgate dkim keygen other.example` and add the key to filters.dkim_sign.keys\n",
		"other.example. 3600 IN MX 10 mail.example.com.\n")

	// -check looks the autodiscover records up like the others: the SRV
	// as published, the CNAME pointing elsewhere, autoconfig absent.
	dns := dnstest.Start(t, "_autodiscover._tcp.example.com. 60 IN SRV 0 1 443 mail.example.com.",
		"autodiscover.example.com. 60 IN CNAME www.example.com.")
	cfg, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append(cfg, "delivery:\n  dns: "+dns.Addr+"\n"...), 0o600)
	out, code = mgtest.Run(t, dir, "", "dns-records", "example.com", "-check", "-config", cfgPath)
	wantLines(t, "-check", out, code, 1,
		"ok       _autodiscover._tcp.example.com. SRV\n",
		"DIFFERS  autodiscover.example.com. CNAME: DNS has www.example.com.\n",
		"MISSING  autoconfig.example.com. CNAME\n")

	if out, code := mgtest.Run(t, dir, "", "dns-records"); code != 2 || out != "usage: mailgate dns-records DOMAIN [-check] [-config FILE]\n" {
		t.Errorf("no domain: exit %d, %q", code, out)
	}
}

// wantLines fails the test, naming what, for a wrong exit code or each
// line the output lacks.
func wantLines(t *testing.T, what, out string, code, wantCode int, lines ...string) {
	t.Helper()
	for _, line := range lines {
		if code != wantCode || !strings.Contains(out, line) {
			t.Errorf("%s: exit %d (want %d), output lacks %q:\n%s", what, code, wantCode, line, out)
		}
	}
}
