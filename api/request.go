package api

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
)

// Request is the JSON body of POST /api/v1/messages: either the parts of
// a message for mailgate to build, or Raw, a whole RFC 5322 message.
type Request struct {
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Cc          []string          `json:"cc"`
	Bcc         []string          `json:"bcc"`
	ReplyTo     []string          `json:"reply_to"`
	Subject     string            `json:"subject"`
	Text        string            `json:"text"`
	HTML        string            `json:"html"`
	Attachments []Attachment      `json:"attachments"`
	Headers     map[string]string `json:"headers"`
	Tags        []string          `json:"tags"`
	Metadata    map[string]string `json:"metadata"`
	Raw         string            `json:"raw"`
}

// Attachment is one file: Content is base64. An inline one (an image the
// HTML shows as cid:ContentID) goes next to the HTML part.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"`
	Inline      bool   `json:"inline"`
	ContentID   string `json:"content_id"`
}

// fieldError is a 400 that names the request field to fix.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Bounds on the parts of a request that are not the message itself.
const (
	maxTags        = 10
	maxTagLen      = 64
	maxMetadata    = 20
	maxMetadataLen = 512
	maxHeaders     = 50
)

// envelope is what a valid request says about delivery.
type envelope struct {
	from  *mail.Address
	rcpts []string // to, cc and bcc, each once, in order
}

// check validates the request and returns its envelope; maxRcpts bounds
// to+cc+bcc.
func (r *Request) check(maxRcpts int) (envelope, error) {
	var env envelope
	if r.Raw != "" && (r.Subject != "" || r.Text != "" || r.HTML != "" || len(r.Attachments) > 0 || len(r.Headers) > 0 || len(r.ReplyTo) > 0) {
		return env, badField("raw", "give either raw or the parts of a message (subject, text, html, attachments, headers, reply_to), not both")
	}
	if r.Raw == "" && r.Text == "" && r.HTML == "" {
		return env, badField("text", "give text, html or both (or a whole message in raw)")
	}
	if r.From == "" && r.Raw == "" {
		return env, badField("from", "required: the sender, as you@example.com or \"Name <you@example.com>\"")
	}
	if r.From != "" {
		a, err := parseAddress("from", r.From)
		if err != nil {
			return env, err
		}
		env.from = a
	}
	if err := r.checkRecipients(&env, maxRcpts); err != nil {
		return env, err
	}
	if _, err := parseList("reply_to", r.ReplyTo); err != nil {
		return env, err
	}
	if err := r.checkAttachments(); err != nil {
		return env, err
	}
	if err := checkHeaders(r.Headers); err != nil {
		return env, err
	}
	return env, r.checkLabels()
}

func (r *Request) checkRecipients(env *envelope, maxRcpts int) error {
	seen := map[string]bool{}
	for _, l := range []struct {
		name string
		list []string
	}{{"to", r.To}, {"cc", r.Cc}, {"bcc", r.Bcc}} {
		addrs, err := parseList(l.name, l.list)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				env.rcpts = append(env.rcpts, a.Address)
			}
		}
	}
	if len(env.rcpts) == 0 && r.Raw == "" {
		return badField("to", "give at least one recipient in to, cc or bcc")
	}
	if len(env.rcpts) > maxRcpts {
		return badField("to", "%d recipients in to, cc and bcc; the limit is %d (limits.max_recipients): send several messages", len(env.rcpts), maxRcpts)
	}
	return nil
}

func parseList(field string, list []string) ([]*mail.Address, error) {
	var out []*mail.Address
	for i, s := range list {
		a, err := parseAddress(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// parseAddress takes one address, bare or with a display name.
func parseAddress(field, s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") || strings.ContainsAny(a.Address, " \t\r\n<>") {
		return nil, badField(field, "%q is not an email address; write user@example.com or \"Name <user@example.com>\"", truncate(s))
	}
	return a, nil
}

func (r *Request) checkAttachments() error {
	for i, a := range r.Attachments {
		f := fmt.Sprintf("attachments[%d]", i)
		if a.Filename == "" && !a.Inline {
			return badField(f+".filename", "required: the file's name as the recipient will see it")
		}
		if strings.ContainsAny(a.Filename, "\r\n\x00") {
			return badField(f+".filename", "must not contain line breaks or NUL")
		}
		if a.ContentType != "" && !validMediaType(a.ContentType) {
			return badField(f+".content_type", "%q is not a media type; write it as type/subtype, such as application/pdf", truncate(a.ContentType))
		}
		if _, err := base64.StdEncoding.DecodeString(a.Content); err != nil {
			return badField(f+".content", "not valid base64 (RFC 4648, standard alphabet with padding)")
		}
		if a.Inline && (a.ContentID == "" || strings.ContainsAny(a.ContentID, "<> \t\r\n")) {
			return badField(f+".content_id", "an inline attachment needs a content_id without <>, spaces or line breaks; the HTML refers to it as cid:ID")
		}
	}
	return nil
}

// reservedHeaders are built from the request's own fields, or by
// mailgate; headers may not set them.
var reservedHeaders = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "subject": true, "sender": true,
	"date": true, "mime-version": true, "content-type": true, "content-transfer-encoding": true,
	"content-disposition": true, "received": true, "dkim-signature": true, "return-path": true,
}

func checkHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return badField("headers", "%d fields; at most %d", len(h), maxHeaders)
	}
	for name, v := range h {
		f := "headers." + name
		if !validFieldName(name) {
			return badField("headers", "%q is not a header field name (RFC 5322: printable ASCII without colon or space)", truncate(name))
		}
		if reservedHeaders[strings.ToLower(name)] {
			return badField(f, "set by mailgate or by its own request field; remove it from headers")
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return badField(f, "the value must not contain line breaks or NUL")
		}
		if len(v) > 900 {
			return badField(f, "the value is %d bytes; at most 900", len(v))
		}
	}
	return nil
}

func (r *Request) checkLabels() error {
	if len(r.Tags) > maxTags {
		return badField("tags", "%d tags; at most %d", len(r.Tags), maxTags)
	}
	for i, t := range r.Tags {
		if t == "" || len(t) > maxTagLen || strings.ContainsFunc(t, isControl) {
			return badField(fmt.Sprintf("tags[%d]", i), "1 to %d characters, no control characters", maxTagLen)
		}
	}
	if len(r.Metadata) > maxMetadata {
		return badField("metadata", "%d keys; at most %d", len(r.Metadata), maxMetadata)
	}
	for k, v := range r.Metadata {
		if k == "" || len(k)+len(v) > maxMetadataLen || strings.ContainsFunc(k, isControl) {
			return badField("metadata."+truncate(k), "keys of 1 character or more, key and value together at most %d bytes", maxMetadataLen)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validFieldName(s string) bool {
	if s == "" || len(s) > 76 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func validMediaType(s string) bool {
	t, sub, ok := strings.Cut(s, "/")
	return ok && validFieldName(t) && validFieldName(strings.TrimSpace(strings.SplitN(sub, ";", 2)[0])) && !strings.ContainsAny(s, "\r\n")
}

// truncate keeps an echoed value short in an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
