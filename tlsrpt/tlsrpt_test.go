package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os/exec"
	"strings"
	"testing"
	"time"

	"mailgate/internal/daily"
)

var day1 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func filled(t *testing.T, dir string) *Recorder {
	r := &Recorder{Dir: dir, Now: func() time.Time { return day1 }}
	pol := []string{"version: STSv1", "mode: enforce", "mx: mx.dest.test", "max_age: 86400"}
	for i := 0; i < 3; i++ {
		r.Record(Outcome{PolicyDomain: "dest.test", PolicyType: "sts", Policy: pol, MXHost: "mx.dest.test", ReceivingIP: "192.0.2.1"})
	}
	r.Record(Outcome{PolicyDomain: "dest.test", PolicyType: "sts", Policy: pol, MXHost: "mx.dest.test", ReceivingIP: "192.0.2.1", Result: "certificate-expired", Detail: "x509: expired"})
	r.Record(Outcome{PolicyDomain: "dest.test", PolicyType: "sts", Policy: pol, MXHost: "mx.dest.test", ReceivingIP: "192.0.2.1", Result: "certificate-expired"})
	r.Record(Outcome{PolicyDomain: "other.test", PolicyType: "tlsa", Policy: []string{"3 1 1 ab"}, MXHost: "mx.other.test"})
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordSurvivesRestartAndBuildsReport(t *testing.T) {
	dir := t.TempDir()
	filled(t, dir)
	r := &Recorder{Dir: dir} // a restart
	rep, err := Build("Example Org", "postmaster@mg.test", "dest.test", "2026-12-04", r.Day("2026-12-04"))
	if err != nil {
		t.Fatal(err)
	}
	gz, err := rep.Gzip()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(gunzip(t, gz), &got); err != nil {
		t.Fatal(err)
	}
	pythonAccepts(t, gunzip(t, gz))
	// The field names and shapes of RFC 8460 §4.4.
	pol := got["policies"].([]any)[0].(map[string]any)
	sum := pol["summary"].(map[string]any)
	fail := pol["failure-details"].([]any)[0].(map[string]any)
	if got["organization-name"] != "Example Org" || got["date-range"].(map[string]any)["start-datetime"] != "2026-12-04T00:00:00Z" ||
		got["date-range"].(map[string]any)["end-datetime"] != "2026-12-04T23:59:59Z" ||
		pol["policy"].(map[string]any)["policy-type"] != "sts" || pol["policy"].(map[string]any)["policy-domain"] != "dest.test" ||
		sum["total-successful-session-count"] != 3.0 || sum["total-failure-session-count"] != 2.0 ||
		fail["result-type"] != "certificate-expired" || fail["failed-session-count"] != 2.0 || fail["receiving-mx-hostname"] != "mx.dest.test" {
		t.Fatalf("report: %s", gunzip(t, gz))
	}
	if len(got["policies"].([]any)) != 1 {
		t.Fatal("another domain's policy leaked into the report")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseTXT(t *testing.T) {
	us, err := ParseTXT([]string{"v=TLSRPTv1; rua=mailto:tls@dest.test,https://rep.dest.test/v1"})
	if err != nil || len(us) != 2 || us[0].Opaque != "tls@dest.test" || us[1].Host != "rep.dest.test" {
		t.Fatalf("%v %v", us, err)
	}
	for _, recs := range [][]string{nil, {"v=spf1"}, {"v=TLSRPTv1;"}, {"v=TLSRPTv1; rua=ftp://x"}, {"v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"}} {
		if us, err := ParseTXT(recs); err == nil {
			t.Errorf("ParseTXT(%q) = %v", recs, us)
		}
	}
}

func TestSendDayMailsAndPostsOnce(t *testing.T) {
	dir := t.TempDir()
	rec := filled(t, dir)
	var posted [][]byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			http.Error(w, "bad type", 415)
			return
		}
		b, _ := io.ReadAll(r.Body)
		posted = append(posted, b)
	}))
	defer srv.Close()
	var sub struct {
		msgs [][]byte
		to   []string
	}
	s := &Sender{
		Recorder: rec,
		HTTP:     srv.Client(),
		Reporter: daily.Reporter{
			LookupTXT: func(_ context.Context, name string) ([]string, error) {
				if name == "_smtp._tls.dest.test" {
					return []string{"v=TLSRPTv1; rua=mailto:tls@dest.test," + srv.URL + "/report"}, nil
				}
				return nil, ErrNoRecord
			},
			Submit: func(_ context.Context, from string, to []string, msg []byte) error {
				sub.msgs, sub.to = append(sub.msgs, msg), append(sub.to, to...)
				return nil
			},
			Org: "Example Org", Contact: "postmaster@mg.test", Submitter: "mx.mg.test",
			Now: func() time.Time { return day1.Add(24 * time.Hour) },
		},
	}
	if err := s.SendDay(context.Background(), "2026-12-04"); err != nil {
		t.Fatal(err)
	}
	if len(sub.msgs) != 1 || sub.to[0] != "tls@dest.test" || len(posted) != 1 {
		t.Fatalf("mailed %d (to %v), posted %d; want 1 and 1", len(sub.msgs), sub.to, len(posted))
	}
	checkMail(t, sub.msgs[0])
	// A second run (after a restart, say) sends nothing again.
	s2 := *s
	s2.Recorder = &Recorder{Dir: dir}
	if err := s2.SendDay(context.Background(), "2026-12-04"); err != nil || len(sub.msgs) != 1 || len(posted) != 1 {
		t.Fatalf("resent: %d mails, %d posts, %v", len(sub.msgs), len(posted), err)
	}
}

// checkMail reads the report mail as a receiver would (RFC 8460 §5.3).
func checkMail(t *testing.T, raw []byte) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("TLS-Report-Domain") != "dest.test" || m.Header.Get("TLS-Report-Submitter") != "mx.mg.test" ||
		!strings.HasPrefix(m.Header.Get("Subject"), "Report Domain: dest.test Submitter: mx.mg.test Report-ID: <") {
		t.Fatalf("header:\n%s", raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	mr.NextPart() // the text
	att, err := mr.NextPart()
	if err != nil || att.Header.Get("Content-Type") != "application/tlsrpt+gzip" || !strings.HasSuffix(att.FileName(), ".json.gz") ||
		!strings.HasPrefix(att.FileName(), "mx.mg.test!dest.test!1796342400!1796428799!") {
		t.Fatalf("attachment %v %q: %v", att.Header, att.FileName(), err)
	}
	b, _ := io.ReadAll(att)
	dec := make([]byte, len(b))
	n, err := base64Decode(dec, b)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(gunzip(t, dec[:n]), &rep); err != nil || rep.Policies[0].Summary.Success != 3 {
		t.Fatalf("attached report %+v: %v", rep, err)
	}
}

func base64Decode(dst, src []byte) (int, error) {
	return base64.StdEncoding.Decode(dst, bytes.ReplaceAll(src, []byte("\r\n"), nil))
}

// pythonAccepts parses the report with Python's json module and checks
// the members RFC 8460 §4.4 requires, as an independent reader would.
func pythonAccepts(t *testing.T, report []byte) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script := `
import json, sys
r = json.load(sys.stdin)
for k in ("organization-name", "date-range", "contact-info", "report-id", "policies"):
    assert k in r, k
for p in r["policies"]:
    assert set(p["policy"]) >= {"policy-type", "policy-domain"}, p["policy"]
    assert p["policy"]["policy-type"] in ("tlsa", "sts", "no-policy-found")
    assert isinstance(p["summary"]["total-successful-session-count"], int)
    for f in p.get("failure-details", []):
        assert isinstance(f["failed-session-count"], int) and f["result-type"]
print("ok")
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(report)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python rejects the report: %v\n%s", err, out)
	}
}
