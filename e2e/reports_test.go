package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
)

// TestDailyReportsSent: with reports.send, a restarted server sends the
// previous day's TLS-RPT and DMARC reports it has counts for, once,
// DKIM-signed, to the addresses the domains publish; `mailgate dmarc
// report` prints the same DMARC report.
func TestDailyReportsSent(t *testing.T) {
	t.Parallel()
	keyDir := t.TempDir()
	if out, code := mgtest.Run(t, keyDir, "", "dkim", "keygen", "mg.test", "--selector", "r1", "--algorithm", "ed25519", "--out", keyDir); code != 0 {
		t.Fatalf("dkim keygen: %s", out)
	}
	remote := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t,
		"sts.test. 60 IN MX 10 mx.remote.test.", "src.test. 60 IN MX 10 mx.remote.test.", "mx.remote.test. 60 IN A 127.0.0.1",
		`_smtp._tls.sts.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tls@sts.test"`)
	srv := mgtest.Start(t, mgtest.Options{
		LocalDomain: "mg.test", DNS: dns.Addr, Protocols: []string{"smtp"},
		Delivery: fmt.Sprintf("  port: %d\n", remote.Port()),
		Config: fmt.Sprintf("reports:\n  send: true\n  organization: MG Test\n  contact: reports@mg.test\n"+
			"filters:\n  dkim_sign:\n    keys: [{domain: mg.test, selector: r1, file: %s}]\n", filepath.Join(keyDir, "mg.test.r1.pem")),
	})
	srv.Stop()
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	writeDay(t, filepath.Join(srv.DataDir, "reports", "tls"), yesterday,
		`[{"domain":"sts.test","type":"sts","strings":["version: STSv1","mode: enforce","mx: mx.sts.test","max_age: 86400"],"mx_hosts":["mx.sts.test"],"success":7,"failure":1,`+
			`"failures":[{"result":"certificate-expired","mx_host":"mx.sts.test","receiving_ip":"192.0.2.8","count":1}]}]`)
	writeDay(t, filepath.Join(srv.DataDir, "reports", "dmarc"), yesterday,
		`{"src.test":{"published":{"domain":"src.test","adkim":"r","aspf":"r","p":"reject","sp":"","pct":100,"rua":["mailto:dmarc@src.test"]},`+
			`"rows":[{"source_ip":"192.0.2.9","header_from":"src.test","disposition":"reject","dkim":"fail","spf":"fail","spf_auth":{"domain":"src.test","scope":"mfrom","result":"fail"},"count":3}]}}`)

	out, code := mgtest.Run(t, srv.Dir, "", "dmarc", "report", "--domain", "src.test", "--date", yesterday, "-config", srv.ConfigPath)
	if code != 0 || !strings.Contains(out, "<count>3</count>") || !strings.Contains(out, "to: dmarc@src.test") {
		t.Fatalf("dmarc report: exit %d\n%s", code, out)
	}

	srv.Restart()
	msgs := remote.WaitMessages(t, 2, mgtest.Timeout)
	byRcpt := map[string][]byte{}
	for _, m := range msgs {
		byRcpt[m.Rcpts[0]] = m.Raw
	}
	tlsRep := reportAttachment(t, byRcpt["tls@sts.test"], "application/tlsrpt+gzip")
	var rep struct {
		Org      string `json:"organization-name"`
		Policies []struct {
			Summary struct {
				Success int `json:"total-successful-session-count"`
				Failure int `json:"total-failure-session-count"`
			} `json:"summary"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(tlsRep, &rep); err != nil || rep.Org != "MG Test" || rep.Policies[0].Summary.Success != 7 || rep.Policies[0].Summary.Failure != 1 {
		t.Errorf("TLS report %s: %v", tlsRep, err)
	}
	dmarcRep := reportAttachment(t, byRcpt["dmarc@src.test"], "application/gzip")
	var fb struct {
		Org   string `xml:"report_metadata>org_name"`
		Count int    `xml:"record>row>count"`
	}
	if err := xml.Unmarshal(dmarcRep, &fb); err != nil || fb.Org != "MG Test" || fb.Count != 3 {
		t.Errorf("DMARC report %s: %v", dmarcRep, err)
	}
	validateDMARCSchema(t, dmarcRep)
	// Sent once: a restart does not send them again.
	srv.Stop()
	srv.Restart()
	srv.WaitLog(`msg="TLS reports checked"`)
	srv.WaitLog(`msg="DMARC reports checked"`)
	for _, sent := range []string{`msg="TLS report sent"`, `msg="DMARC report sent"`} {
		if n := strings.Count(srv.Logs(), sent); n != 1 {
			t.Errorf("%d log lines %s over two runs, want 1", n, sent)
		}
	}
}

// validateDMARCSchema checks a report the binary sent against RFC 7489
// Appendix C's schema (dmarcrpt/testdata) with xmllint.
func validateDMARCSchema(t *testing.T, x []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint (libxml2-utils) is not installed; .ci/run installs it")
		}
		t.Log("xmllint not installed: the DMARC report is not checked against the schema")
		return
	}
	file := filepath.Join(t.TempDir(), "dmarc.xml")
	os.WriteFile(file, x, 0o600)
	out, err := exec.Command(xmllint, "--noout", "--schema", "../dmarcrpt/testdata/rfc7489-appendix-c.xsd", file).CombinedOutput()
	if err != nil {
		t.Errorf("the DMARC report does not validate against RFC 7489 Appendix C: %v\n%s\n%s", err, out, x)
	}
}

func writeDay(t *testing.T, dir, date, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, date+".json"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// reportAttachment checks a report mail is DKIM-signed by mg.test and
// returns its attachment, decompressed.
func reportAttachment(t *testing.T, raw []byte, mediaType string) []byte {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("report mail: %v\n%s", err, raw)
	}
	if sig := m.Header.Get("DKIM-Signature"); !strings.Contains(sig, "d=mg.test") {
		t.Errorf("report not DKIM-signed by mg.test:\n%s", raw)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	mr.NextPart()
	p, err := mr.NextPart()
	if err != nil || p.Header.Get("Content-Type") != mediaType {
		t.Fatalf("attachment: %v %v\n%s", p, err, raw)
	}
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
