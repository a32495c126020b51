package queue

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var dsnUpdate = flag.Bool("update-dsn", false, "rewrite queue/testdata/dsn-*.golden")

var (
	dsnNow     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	dsnArrival = time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	dsnMsg     = "From: Alice <alice@src.test>\r\nTo: bob@dest.test\r\nSubject: lunch\r\nMessage-ID: <m1@src.test>\r\n\r\nsee you at noon\r\n"
)

func dsnSample() DSNInput {
	return DSNInput{
		ReportingMTA: "mail.src.test", Sender: "alice@src.test", EnvID: "QQ314159", Arrival: dsnArrival,
		Original: []byte(dsnMsg), Now: dsnNow,
		Recipients: []DSNRecipient{
			{
				FinalRecipient: "bob@dest.test", OriginalRecipient: "rfc822;Bob.Alias@src.test", Action: DSNFailed,
				Status: "5.1.1", RemoteMTA: "mx.dest.test",
				Diagnostic:  "550 5.1.1 no such user\r\nX-Injected: yes",
				LastAttempt: dsnNow.Add(-time.Minute),
			},
			{
				FinalRecipient: "carol@dest.test", Action: DSNFailed, Status: "bogus",
				Diagnostic: "451 4.4.2 connection lost", LastAttempt: dsnNow.Add(-2 * time.Minute),
			},
		},
	}
}

// dsnParsed is a report taken apart the way a mail client would.
type dsnParsed struct {
	header     mail.Header
	parts      []*multipart.Part
	bodies     [][]byte
	msgFields  textproto.MIMEHeader
	rcptFields []textproto.MIMEHeader
}

func parseDSN(t *testing.T, raw []byte) *dsnParsed {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("report has a bare LF")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	p := &dsnParsed{header: msg.Header}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part)
		p.parts, p.bodies = append(p.parts, part), append(p.bodies, body)
	}
	if len(p.parts) != 3 {
		t.Fatalf("%d parts, want 3", len(p.parts))
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(p.bodies[1])))
	if p.msgFields, err = r.ReadMIMEHeader(); err != nil {
		t.Fatalf("per-message fields: %v", err)
	}
	for {
		h, err := r.ReadMIMEHeader()
		if len(h) > 0 {
			p.rcptFields = append(p.rcptFields, h)
		}
		if err != nil {
			break
		}
	}
	return p
}

func wantFields(t *testing.T, what string, got textproto.MIMEHeader, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g := got.Get(k); g != v {
			t.Errorf("%s %s = %q, want %q", what, k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s has unexpected field %s: %q", what, k, got.Get(k))
		}
	}
}

func TestDSNFailedHeadersOnly(t *testing.T) {
	t.Parallel()
	raw, err := BuildDSN(dsnSample())
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, raw)
	for k, v := range map[string]string{
		"From": "Mail Delivery System <MAILER-DAEMON@mail.src.test>", "To": "<alice@src.test>",
		"Subject": "Undelivered Mail Returned to Sender", "Date": "Wed, 25 Nov 2026 12:00:00 +0000",
		"Auto-Submitted": "auto-replied", "In-Reply-To": "<m1@src.test>", "MIME-Version": "1.0",
	} {
		if g := p.header.Get(k); g != v {
			t.Errorf("header %s = %q, want %q", k, g, v)
		}
	}
	if ct := p.parts[0].Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("part 1 Content-Type %q", ct)
	}
	human, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(p.bodies[0])))
	for _, s := range []string{"<bob@dest.test>: mx.dest.test said: 550 5.1.1 no such user X-Injected: yes", "<carol@dest.test>: 451 4.4.2 connection lost", "permanent error"} {
		if !strings.Contains(string(human), s) {
			t.Errorf("human part lacks %q:\n%s", s, human)
		}
	}
	if ct := p.parts[1].Header.Get("Content-Type"); ct != "message/delivery-status" {
		t.Errorf("part 2 Content-Type %q", ct)
	}
	wantFields(t, "per-message", p.msgFields, map[string]string{
		"Reporting-Mta": "dns; mail.src.test", "Original-Envelope-Id": "QQ314159",
		"Arrival-Date": "Fri, 20 Nov 2026 09:30:00 +0000",
	})
	if len(p.rcptFields) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(p.rcptFields))
	}
	wantFields(t, "bob", p.rcptFields[0], map[string]string{
		"Final-Recipient": "rfc822; bob@dest.test", "Original-Recipient": "rfc822; Bob.Alias@src.test",
		"Action": "failed", "Status": "5.1.1", "Remote-Mta": "dns; mx.dest.test",
		"Diagnostic-Code":   "smtp; 550 5.1.1 no such user X-Injected: yes",
		"Last-Attempt-Date": "Wed, 25 Nov 2026 11:59:00 +0000",
	})
	wantFields(t, "carol", p.rcptFields[1], map[string]string{
		"Final-Recipient": "rfc822; carol@dest.test", "Action": "failed", "Status": "5.0.0",
		"Diagnostic-Code": "smtp; 451 4.4.2 connection lost", "Last-Attempt-Date": "Wed, 25 Nov 2026 11:58:00 +0000",
	})
	if ct := p.parts[2].Header.Get("Content-Type"); ct != "text/rfc822-headers" {
		t.Errorf("part 3 Content-Type %q", ct)
	}
	if want := dsnMsg[:strings.Index(dsnMsg, "\r\n\r\n")+2]; string(p.bodies[2]) != want {
		t.Errorf("returned headers %q, want %q", p.bodies[2], want)
	}
	dsnGolden(t, "dsn-failed-headers.golden", raw)
}

func TestDSNDelayedFull(t *testing.T) {
	t.Parallel()
	in := dsnSample()
	in.Ret, in.EnvID = "FULL", ""
	in.Recipients = []DSNRecipient{{
		FinalRecipient: "bob@dest.test", Action: DSNDelayed, Status: "4.4.1", RemoteMTA: "mx.dest.test",
		Diagnostic: "451 4.4.1 cannot connect", LastAttempt: dsnNow, WillRetryUntil: dsnArrival.Add(5 * 24 * time.Hour),
	}}
	raw, err := BuildDSN(in)
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, raw)
	if s := p.header.Get("Subject"); s != "Delayed Mail (still being retried)" {
		t.Errorf("Subject %q", s)
	}
	wantFields(t, "per-message", p.msgFields, map[string]string{
		"Reporting-Mta": "dns; mail.src.test", "Arrival-Date": "Fri, 20 Nov 2026 09:30:00 +0000",
	})
	wantFields(t, "bob", p.rcptFields[0], map[string]string{
		"Final-Recipient": "rfc822; bob@dest.test", "Action": "delayed", "Status": "4.4.1",
		"Remote-Mta": "dns; mx.dest.test", "Diagnostic-Code": "smtp; 451 4.4.1 cannot connect",
		"Last-Attempt-Date": "Wed, 25 Nov 2026 12:00:00 +0000", "Will-Retry-Until": "Wed, 25 Nov 2026 09:30:00 +0000",
	})
	if ct := p.parts[2].Header.Get("Content-Type"); ct != "message/rfc822" || string(p.bodies[2]) != dsnMsg {
		t.Errorf("part 3 %q holds %q, want message/rfc822 with the whole message", ct, p.bodies[2])
	}
	dsnGolden(t, "dsn-delayed-full.golden", raw)
}

func TestDSNGlobalAndDelivered(t *testing.T) {
	t.Parallel()
	in := dsnSample()
	in.Recipients = []DSNRecipient{{FinalRecipient: "jösé@dest.test", Action: DSNDelivered, RemoteMTA: "mx.dest.test", Diagnostic: "250 2.0.0 OK"}}
	raw, err := BuildDSN(in)
	if err != nil {
		t.Fatal(err)
	}
	p := parseDSN(t, raw)
	if ct := p.parts[1].Header.Get("Content-Type"); ct != "message/global-delivery-status" {
		t.Errorf("part 2 Content-Type %q", ct)
	}
	if ct := p.parts[2].Header.Get("Content-Type"); ct != "message/global-headers" {
		t.Errorf("part 3 Content-Type %q", ct)
	}
	wantFields(t, "rcpt", p.rcptFields[0], map[string]string{
		"Final-Recipient": "utf-8; jösé@dest.test", "Action": "delivered", "Status": "2.0.0",
		"Remote-Mta": "dns; mx.dest.test", "Diagnostic-Code": "smtp; 250 2.0.0 OK",
	})
	if s := p.header.Get("Subject"); s != "Successful Mail Delivery Report" {
		t.Errorf("Subject %q", s)
	}
}

func TestDSNRefuses(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*DSNInput){
		"null sender":   func(in *DSNInput) { in.Sender = "" },
		"no recipients": func(in *DSNInput) { in.Recipients = nil },
		"bad action":    func(in *DSNInput) { in.Recipients[0].Action = "expanded" },
	} {
		in := dsnSample()
		mod(&in)
		if _, err := BuildDSN(in); err == nil {
			t.Errorf("%s: built a report, want an error", name)
		}
	}
}

func TestDSNIsDeterministic(t *testing.T) {
	t.Parallel()
	a, _ := BuildDSN(dsnSample())
	b, _ := BuildDSN(dsnSample())
	if !bytes.Equal(a, b) {
		t.Error("same input gave different reports")
	}
}

func dsnGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *dsnUpdate {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./queue -run DSN -update-dsn to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s; got:\n%s", path, got)
	}
}

func BenchmarkBuildDSN(b *testing.B) {
	in := dsnSample()
	in.Ret = "FULL"
	in.Original = []byte(dsnMsg + strings.Repeat("a line of the body that goes on for a while\r\n", 2000))
	b.SetBytes(int64(len(in.Original)))
	for b.Loop() {
		if _, err := BuildDSN(in); err != nil {
			b.Fatal(err)
		}
	}
}
