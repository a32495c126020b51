package queue

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzSpoolFile feeds arbitrary bytes to the spool file parser that
// start-up recovery runs on every file in the spool. It must never panic;
// what it accepts has a valid ID and recipients, and writing that
// envelope and message back in the spool format parses to the same.
func FuzzSpoolFile(f *testing.F) {
	env := `{"id":"0123456789abcdef012","from":"a@b.test","recipients":[{"addr":"c@d.test"}],"received":"2026-01-02T03:04:05Z"}`
	for _, s := range []string{
		spoolMagic + env + "\nSubject: x\r\n\r\nbody\r\n",
		spoolMagic + env + "\n",
		spoolMagic + env,
		spoolMagic + "{}\n",
		spoolMagic + `{"id":"../../etc/passwd","recipients":[{"addr":"x"}]}` + "\n",
		spoolMagic + `{"id":"0123456789abcdef012","recipients":[]}` + "\nx",
		spoolMagic + `{"id":"0123456789abcdef012","recipients":null}` + "\nx",
		spoolMagic + `{"id":"0123456789abcdef012","recipients":[{"addr":"c@d.test"}],"received":"bad"}` + "\n",
		"MAILGATE-SPOOL/2\n" + env + "\n",
		"",
		spoolMagic[:5],
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, raw, err := parseSpoolFile(data)
		if err != nil {
			return
		}
		if !validID(e.ID) || len(e.Recipients) == 0 {
			t.Fatalf("accepted envelope with id %q and %d recipients", e.ID, len(e.Recipients))
		}
		if strings.ContainsAny(e.ID, "/\\.") {
			t.Fatalf("accepted id %q that could name a path", e.ID)
		}
		head, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("accepted envelope does not marshal: %v", err)
		}
		again := append(append(append([]byte(spoolMagic), head...), '\n'), raw...)
		e2, raw2, err := parseSpoolFile(again)
		if err != nil || !bytes.Equal(raw, raw2) || e2.ID != e.ID || len(e2.Recipients) != len(e.Recipients) {
			t.Fatalf("round trip changed the file: %v", err)
		}
	})
}

// FuzzBuildDSN builds reports from what a remote server may send back
// (its reply text, status and host name) and from envelope fields. A
// report must parse as multipart/report with exactly one per-recipient
// block, carry no line the input smuggled in as a header field, keep its
// own lines CRLF-terminated, and keep every line of its own parts under
// the 998 octets of RFC 5322.
func FuzzBuildDSN(f *testing.F) {
	f.Add("550 5.1.1 no such user", "5.1.1", "mx.dest.test", "bob@dest.test", "rfc822;bob@dest.test", "alice@src.test", "QQ1", "HDRS")
	f.Add("550 5.1.1 x\r\nX-Injected: yes", "5.1.1\r\nX-Injected: yes", "mx\r\nX-Injected: yes", "bob@dest.test\r\nX-Injected: yes", "rfc822;a\nX-Injected: 1", "a@b\rX-Injected: 1", "id\r\nX-Injected: 1", "FULL")
	f.Add(strings.Repeat("x", 5000), "bogus", "", "", "", "s@x", "", "")
	f.Add("451 4.4.2 \x00\xff\xfe", "4.4.2", "[127.0.0.1]", "\"quoted local\"@d.test", "utf-8;b\u00e9b@d.test", "\u00e9@x.test", "\x00", "FULL")
	f.Fuzz(func(t *testing.T, diag, status, remote, rcpt, orig, sender, envid, ret string) {
		in := dsnSample()
		in.Sender, in.EnvID, in.Ret = sender, envid, ret
		in.Recipients = in.Recipients[:1]
		r := &in.Recipients[0]
		r.Diagnostic, r.Status, r.RemoteMTA, r.FinalRecipient, r.OriginalRecipient = diag, status, remote, rcpt, orig
		raw, err := BuildDSN(in)
		if err != nil {
			return
		}
		p := parseDSN(t, raw)
		if len(p.rcptFields) != 1 {
			t.Fatalf("%d per-recipient blocks, want 1:\n%s", len(p.rcptFields), p.bodies[1])
		}
		for _, h := range append([]map[string][]string{p.msgFields, p.rcptFields[0]}, p.header) {
			for k := range h {
				if strings.EqualFold(k, "X-Injected") {
					t.Fatalf("input smuggled a %s field into the report:\n%s", k, raw)
				}
			}
		}
		own := raw[:bytes.Index(raw, p.bodies[2])] // everything before the returned message
		for _, line := range bytes.Split(own, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("report line of %d octets: %.60q", len(line), line)
			}
			if bytes.IndexByte(line, '\r') >= 0 {
				t.Fatalf("bare CR in report line %q", line)
			}
		}
	})
}
