package sieve

import (
	"bytes"
	"mime"
	"strings"
)

// Message is the mail a script looks at: its header fields (unfolded, in
// order) and its body. Parse it once with NewMessage.
type Message struct {
	fields []field
	body   []byte
	size   int
	parts  []bodyPart // decoded leaf parts, filled on first use
	parsed bool
}

type field struct {
	name  string // as written
	lower string
	raw   string // unfolded value, leading white space removed
}

// NewMessage splits raw (CRLF or LF line ends) into header and body.
func NewMessage(raw []byte) *Message {
	m := &Message{size: len(raw)}
	head, body := splitHeader(raw)
	m.body = body
	m.fields = parseFields(head)
	return m
}

// splitHeader cuts a message at its first empty line.
func splitHeader(raw []byte) (head, body []byte) {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:]
	}
	if bytes.HasPrefix(raw, []byte("\n")) {
		return nil, raw[1:]
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\n' {
			continue
		}
		rest := raw[i+1:]
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return raw[:i+1], rest[2:]
		}
		if bytes.HasPrefix(rest, []byte("\n")) {
			return raw[:i+1], rest[1:]
		}
	}
	return raw, nil
}

// maxFields bounds the header fields looked at, so a message of tiny
// fields cannot make every test slow.
const maxFields = 2000

func parseFields(head []byte) []field {
	var out []field
	for _, line := range strings.SplitAfter(string(head), "\n") {
		l := strings.TrimRight(line, "\r\n")
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1].raw += l
			continue
		}
		i := strings.IndexByte(l, ':')
		if i <= 0 || len(out) >= maxFields {
			continue
		}
		name := strings.TrimRight(l[:i], " \t")
		out = append(out, field{name: name, lower: strings.ToLower(name), raw: strings.TrimLeft(l[i+1:], " \t")})
	}
	for i := range out {
		out[i].raw = strings.TrimRight(out[i].raw, " \t")
	}
	return out
}

// Header returns the values of every field called name, decoded from
// RFC 2047 encoded words.
func (m *Message) Header(name string) []string {
	lower := strings.ToLower(name)
	var out []string
	for _, f := range m.fields {
		if f.lower == lower {
			out = append(out, decodeWords(f.raw))
		}
	}
	return out
}

// rawHeader is like Header without decoding (for addresses).
func (m *Message) rawHeader(name string) []string {
	lower := strings.ToLower(name)
	var out []string
	for _, f := range m.fields {
		if f.lower == lower {
			out = append(out, f.raw)
		}
	}
	return out
}

// Size is the message's size in bytes.
func (m *Message) Size() int { return m.size }

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
