package api

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
)

// TestBuildParses: a message with text, HTML, an inline image and an
// attachment reads back, part by part, as the request gave it; no line
// is longer than 78 octets and every line ends in CRLF.
func TestBuildParses(t *testing.T) {
	file := bytes.Repeat([]byte{0, 1, 2, 0xff, '\n'}, 200)
	long := strings.Repeat("Grüße aus Köln, ", 40)
	r := &Request{From: "Jörg <jorg@example.com>", To: []string{"a@example.org", "B <b@example.org>"}, Bcc: []string{"hidden@example.org"},
		Subject: long, Text: long, HTML: "<p>" + long + `<img src="cid:logo1"></p>`,
		Headers: map[string]string{"X-Campaign": "spring"},
		Attachments: []Attachment{
			{Filename: "report ü.bin", ContentType: "application/octet-stream", Content: base64.StdEncoding.EncodeToString(file)},
			{Inline: true, ContentID: "logo1", ContentType: "image/png", Content: base64.StdEncoding.EncodeToString([]byte("PNG"))},
		}}
	env, err := r.check(100)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := build(r, env, time.Unix(0, 0), "x@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 78 || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d: %d octets or a bare CR/LF: %q", i, len(line), line)
		}
	}
	if bytes.Contains(raw, []byte("hidden@")) || !bytes.HasPrefix(raw, []byte("Content-Type: multipart/mixed")) {
		t.Errorf("Bcc written, or not multipart/mixed:\n%s", raw)
	}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := mr.Header.Subject(); s != long {
		t.Errorf("subject %q", s)
	}
	for _, s := range []string{"Plain ASCII words then ü and more plain words that run on for a while", "x", "日本語のテキストです。これは長い件名です。"} {
		if got, err := new(mime.WordDecoder).DecodeHeader(encodeWords(s)); err != nil || got != s {
			t.Errorf("encodeWords(%q) decodes to %q, %v", s, got, err)
		}
	}
	got := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := h.ContentType()
			got[ct] = string(b)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			got[name] = string(b)
		}
	}
	want := map[string]string{"text/plain": long, "text/html": r.HTML, "report ü.bin": string(file), "image/png": "PNG"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("part %s: got %q", k, truncate(got[k]))
		}
	}
}

// TestRequestErrors: each mistake is named by its field.
func TestRequestErrors(t *testing.T) {
	for _, c := range []struct {
		req   Request
		field string
	}{
		{Request{To: []string{"a@x.org"}, Text: "x"}, "from"},
		{Request{From: "a@x.org", Text: "x"}, "to"},
		{Request{From: "a@x.org", To: []string{"a@x.org", "nope"}, Text: "x"}, "to[1]"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}}, "text"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Text: "x", Attachments: []Attachment{{Filename: "f", Content: "!!"}}}, "attachments[0].content"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Text: "x", Attachments: []Attachment{{Content: "eA=="}}}, "attachments[0].filename"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Text: "x", Attachments: []Attachment{{Inline: true, Content: "eA=="}}}, "attachments[0].content_id"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Text: "x", Headers: map[string]string{"Subject": "x"}}, "headers.Subject"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Text: "x", Headers: map[string]string{"X-A": "a\r\nBcc: b@x.org"}}, "headers.X-A"},
		{Request{From: "a@x.org", To: []string{"a@x.org"}, Raw: "x", Subject: "s"}, "raw"},
		{Request{From: "a@x.org", To: []string{"a@x.org", "b@x.org", "c@x.org"}, Text: "x"}, "to"},
	} {
		_, err := c.req.check(2)
		fe, ok := err.(*fieldError)
		if !ok || fe.field != c.field {
			t.Errorf("%+v: got %v, want an error naming %s", c.req, err, c.field)
		}
	}
}

// TestRawNormalised: LF becomes CRLF, Bcc (folded too) goes, bare CR,
// NUL and overlong lines are refused.
func TestRawNormalised(t *testing.T) {
	raw, err := normalizeRaw("From: a@x.org\nTo: b@x.org\nBcc: c@x.org,\n d@x.org\nSubject: s\n\nbody\n")
	if err != nil {
		t.Fatal(err)
	}
	env := envelope{}
	out, err := rawEnvelope(raw, &env, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := "From: a@x.org\r\nTo: b@x.org\r\nSubject: s\r\n\r\nbody\r\n"; string(out) != want {
		t.Errorf("got %q", out)
	}
	if env.from.Address != "a@x.org" || strings.Join(env.rcpts, ",") != "b@x.org,c@x.org,d@x.org" {
		t.Errorf("envelope %v %v", env.from, env.rcpts)
	}
	for _, bad := range []string{"From: a@x.org\r\rx", "From: a\x00", "From: a@x.org\n\n" + strings.Repeat("x", 999)} {
		if _, err := normalizeRaw(bad); err == nil {
			t.Errorf("%q accepted", truncate(bad))
		}
	}
}
