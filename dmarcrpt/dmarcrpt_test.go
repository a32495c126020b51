package dmarcrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
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

	"mailgate/internal/daily"
)

var day1 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

var pub = Published{Domain: "src.test", ADKIM: "r", ASPF: "s", P: "reject", Pct: 100,
	RUA: []string{"mailto:dmarc@src.test", "mailto:agg@reports.example!10m", "mailto:nope@other.example", "https://ignored.example/"}}

func filled(t *testing.T, dir string) *Recorder {
	r := &Recorder{Dir: dir, Now: func() time.Time { return day1 }}
	pass := Evaluation{SourceIP: "192.0.2.1", HeaderFrom: "src.test", Disposition: "none", DKIM: "pass", SPF: "pass",
		DKIMAuth: []DKIMAuth{{Domain: "src.test", Selector: "s1", Result: "pass"}}, SPFAuth: SPFAuth{Domain: "src.test", Scope: "mfrom", Result: "pass"}}
	fail := Evaluation{SourceIP: "2001:db8::7", HeaderFrom: "src.test", EnvelopeFrom: "evil.test", Disposition: "reject", DKIM: "fail", SPF: "fail",
		SPFAuth: SPFAuth{Domain: "evil.test", Scope: "mfrom", Result: "fail"}}
	for i := 0; i < 4; i++ {
		r.Record(pub, pass)
	}
	r.Record(pub, fail)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReportAfterRestartIsValidXML(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	r := &Recorder{Dir: dir}
	dom := r.Day("2026-12-04")["src.test"]
	if dom == nil || len(dom.Rows) != 2 || dom.Rows[0].Count != 4 {
		t.Fatalf("day after restart: %+v", dom)
	}
	f, err := Build("Example Org", "postmaster@mg.test", "mx.mg.test", "2026-12-04", dom)
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.XML()
	if err != nil {
		t.Fatal(err)
	}
	checkWithPython(t, x)
	checkWithSchema(t, x)
}

// checkWithSchema validates the report against RFC 7489 Appendix C's
// schema with libxml2's xmllint (testdata/SOURCE.txt says where the
// schema comes from). CI installs xmllint; elsewhere the check is skipped.
func checkWithSchema(t *testing.T, x []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmllint (libxml2-utils) is not installed; .ci/run installs it")
		}
		t.Skip("xmllint not installed (Debian package libxml2-utils)")
	}
	file := filepath.Join(t.TempDir(), "r.xml")
	os.WriteFile(file, x, 0o600)
	out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/rfc7489-appendix-c.xsd", file).CombinedOutput()
	if err != nil {
		t.Fatalf("the report does not validate against RFC 7489 Appendix C: %v\n%s\n%s", err, out, x)
	}
}

// checkWithPython parses the report with Python's XML parser and checks
// the element order RFC 7489 Appendix C's schema requires.
func checkWithPython(t *testing.T, x []byte) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	file := filepath.Join(t.TempDir(), "r.xml")
	os.WriteFile(file, x, 0o600)
	script := `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "feedback", root.tag
assert [c.tag for c in root][:3] == ["version", "report_metadata", "policy_published"], [c.tag for c in root]
md = root.find("report_metadata")
assert [c.tag for c in md] == ["org_name", "email", "report_id", "date_range"], [c.tag for c in md]
assert md.find("date_range/begin").text == "1796342400" and md.find("date_range/end").text == "1796428799"
pp = root.find("policy_published")
assert [c.tag for c in pp] == ["domain", "adkim", "aspf", "p", "sp", "pct", "fo"], [c.tag for c in pp]
assert pp.find("fo").text == "0"
recs = root.findall("record")
assert len(recs) == 2
for r in recs:
    assert [c.tag for c in r] == ["row", "identifiers", "auth_results"]
    assert [c.tag for c in r.find("row")] == ["source_ip", "count", "policy_evaluated"]
    assert [c.tag for c in r.find("row/policy_evaluated")] == ["disposition", "dkim", "spf"]
    ar = [c.tag for c in r.find("auth_results")]
    assert ar[-1] == "spf" and all(t == "dkim" for t in ar[:-1]), ar
assert recs[0].find("row/count").text == "4"
assert recs[1].find("row/policy_evaluated/disposition").text == "reject"
assert recs[1].find("row/source_ip").text == "2001:db8:0:0:0:0:0:7", recs[1].find("row/source_ip").text
assert recs[1].find("identifiers/envelope_from").text == "evil.test"
print("ok")
`
	out, err := exec.Command(py, "-c", script, file).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python rejects the report: %v\n%s\n%s", err, out, x)
	}
}

func TestSendDayChecksExternalDestinationsAndSendsOnce(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	var msgs [][]byte
	var rcpts []string
	s := &Sender{
		Recorder: &Recorder{Dir: dir},
		Reporter: daily.Reporter{
			LookupTXT: func(_ context.Context, name string) ([]string, error) {
				if name == "src.test._report._dmarc.reports.example" {
					return []string{"v=DMARC1"}, nil
				}
				return nil, io.EOF
			},
			Submit: func(_ context.Context, from string, to []string, msg []byte) error {
				msgs, rcpts = append(msgs, msg), append(rcpts, to...)
				return nil
			},
			Org: "Example Org", Contact: "postmaster@mg.test", Submitter: "mx.mg.test",
			Now: func() time.Time { return day1.Add(24 * time.Hour) },
		},
	}
	if err := s.SendDay(context.Background(), "2026-12-04"); err != nil {
		t.Fatal(err)
	}
	// Same organization: yes; external with its record: yes, size limit
	// dropped; external without: no; https: not a mail destination.
	if len(msgs) != 1 || strings.Join(rcpts, ",") != "dmarc@src.test,agg@reports.example" {
		t.Fatalf("sent %d to %v", len(msgs), rcpts)
	}
	checkWithPython(t, attachment(t, msgs[0]))
	if err := s.SendDay(context.Background(), "2026-12-04"); err != nil || len(msgs) != 1 {
		t.Fatalf("sent again: %d, %v", len(msgs), err)
	}
}

func attachment(t *testing.T, raw []byte) []byte {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	mr.NextPart()
	p, err := mr.NextPart()
	if err != nil || p.Header.Get("Content-Type") != "application/gzip" || p.FileName() != "mx.mg.test!src.test!1796342400!1796428799.xml.gz" {
		t.Fatalf("attachment %v %q %v", p.Header, p.FileName(), err)
	}
	b, _ := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := io.ReadAll(zr)
	return x
}
