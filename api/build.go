package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// build writes the message a JSON request describes: text and HTML as
// multipart/alternative, inline images with the HTML in
// multipart/related, attachments around both in multipart/mixed. go-message
// does the encoding: quoted-printable text (lines within 76 octets),
// base64 files, RFC 2047 encoded words and folded header fields. Bcc is
// never written.
func build(r *Request, env envelope, now time.Time, msgID string) ([]byte, error) {
	// go-message writes the field added last first: add them bottom up,
	// so the message reads From, To, Cc, Reply-To, Subject, Date.
	var gh gomail.Header
	names := make([]string, 0, len(r.Headers))
	for k := range r.Headers {
		names = append(names, k)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, k := range names {
		gh.Add(k, encodeWords(r.Headers[k]))
	}
	gh.Set("MIME-Version", "1.0")
	gh.SetMessageID(msgID)
	gh.SetDate(now)
	gh.Set("Subject", encodeWords(r.Subject))
	setList(&gh, "Reply-To", r.ReplyTo)
	setList(&gh, "Cc", r.Cc)
	setList(&gh, "To", r.To)
	gh.SetAddressList("From", []*gomail.Address{toGo(env.from)})
	var buf bytes.Buffer
	if err := writeBody(&buf, gh.Header, r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toGo(a *mail.Address) *gomail.Address { return &gomail.Address{Name: a.Name, Address: a.Address} }

// setList sets a header field from addresses check already parsed.
func setList(h *gomail.Header, key string, list []string) {
	var out []*gomail.Address
	for _, s := range list {
		a, _ := mail.ParseAddress(s)
		out = append(out, toGo(a))
	}
	h.SetAddressList(key, out)
}

// writeBody writes the top entity: the body part alone, or it and the
// attachments in multipart/mixed.
func writeBody(w io.Writer, top message.Header, r *Request) error {
	var files []Attachment
	for _, a := range r.Attachments {
		if !a.Inline {
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		return writePart(w, top, func(w *message.Writer) error { return writeContent(w, r) }, contentType(r))
	}
	return writePart(w, top, func(mw *message.Writer) error {
		if err := writeChild(mw, contentType(r), func(w *message.Writer) error { return writeContent(w, r) }); err != nil {
			return err
		}
		for _, a := range files {
			if err := writeFile(mw, a); err != nil {
				return err
			}
		}
		return nil
	}, "multipart/mixed")
}

// contentType is the media type of the message's content without files.
func contentType(r *Request) string {
	switch {
	case r.Text != "" && r.HTML != "":
		return "multipart/alternative"
	case r.HTML != "":
		return htmlType(r)
	}
	return "text/plain"
}

func htmlType(r *Request) string {
	for _, a := range r.Attachments {
		if a.Inline {
			return "multipart/related"
		}
	}
	return "text/html"
}

// writeContent writes the text, the HTML, or both as alternatives.
func writeContent(w *message.Writer, r *Request) error {
	if r.Text != "" && r.HTML != "" {
		if err := writeChild(w, "text/plain", text(r.Text)); err != nil {
			return err
		}
		return writeChild(w, htmlType(r), func(w *message.Writer) error { return writeHTML(w, r) })
	}
	if r.HTML != "" {
		return writeHTML(w, r)
	}
	return text(r.Text)(w)
}

// writeHTML writes the HTML, with its inline images when it has some.
func writeHTML(w *message.Writer, r *Request) error {
	if htmlType(r) == "text/html" {
		return text(r.HTML)(w)
	}
	if err := writeChild(w, "text/html", text(r.HTML)); err != nil {
		return err
	}
	for _, a := range r.Attachments {
		if a.Inline {
			if err := writeFile(w, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func text(s string) func(*message.Writer) error {
	return func(w *message.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// writePart writes an entity with header h (Content-Type set to ct) and
// the content fill writes.
func writePart(out io.Writer, h message.Header, fill func(*message.Writer) error, ct string) error {
	setType(&h, ct)
	w, err := message.CreateWriter(out, h)
	if err != nil {
		return err
	}
	if err := fill(w); err != nil {
		return err
	}
	return w.Close()
}

// writeChild adds a part of type ct to the multipart w.
func writeChild(w *message.Writer, ct string, fill func(*message.Writer) error) error {
	var h message.Header
	setType(&h, ct)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if err := fill(pw); err != nil {
		return err
	}
	return pw.Close()
}

func setType(h *message.Header, ct string) {
	switch ct {
	case "text/plain", "text/html":
		h.SetContentType(ct, map[string]string{"charset": "utf-8"})
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	default:
		h.SetContentType(ct, nil)
	}
}

// writeFile adds one attachment, base64 in lines of 76.
func writeFile(w *message.Writer, a Attachment) error {
	data, _ := base64.StdEncoding.DecodeString(a.Content) // checked
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, params = "application/octet-stream", nil
	}
	var h message.Header
	h.SetContentType(mt, params)
	h.Set("Content-Transfer-Encoding", "base64")
	disp := "attachment"
	if a.Inline {
		disp = "inline"
		h.Set("Content-ID", "<"+a.ContentID+">")
	}
	var dp map[string]string
	if a.Filename != "" {
		dp = map[string]string{"filename": a.Filename}
	}
	h.SetContentDisposition(disp, dp)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(data); err != nil {
		return err
	}
	return pw.Close()
}

// encodeWords writes non-ASCII text as RFC 2047 encoded words short
// enough (16 octets of text each) that go-message can fold the field at
// the spaces between them within 78 octets a line; mime.QEncoding alone
// makes words of 75, which with "Subject: " leave no place to fold.
// Space between encoded words is not part of the text (RFC 2047 6.2).
func encodeWords(s string) string {
	if ascii([]byte(s)) {
		return s
	}
	var words []string
	chunk := ""
	for _, r := range s {
		if len(chunk)+utf8.RuneLen(r) > 16 {
			words = append(words, qWord(chunk))
			chunk = ""
		}
		chunk += string(r)
	}
	if chunk != "" {
		words = append(words, qWord(chunk))
	}
	return strings.Join(words, " ")
}

// qWord is always an encoded word (mime.QEncoding leaves ASCII as it
// is, which would make the spaces between words part of the text).
func qWord(s string) string {
	var b strings.Builder
	b.WriteString("=?utf-8?q?")
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("!*+-/", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("?=")
	return b.String()
}
