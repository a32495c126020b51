package sieve

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"
)

// bodyPart is one leaf MIME part, decoded.
type bodyPart struct {
	typ  string // lower-case type/subtype
	text string
}

// Limits for walking a body: nesting depth and number of parts.
const (
	maxMIMEDepth = 8
	maxMIMEParts = 100
)

// leafParts decodes the body's leaf parts once.
func (m *Message) leafParts() []bodyPart {
	if m.parsed {
		return m.parts
	}
	m.parsed = true
	ct := ""
	if v := m.rawHeader("Content-Type"); len(v) > 0 {
		ct = v[0]
	}
	cte := ""
	if v := m.rawHeader("Content-Transfer-Encoding"); len(v) > 0 {
		cte = v[0]
	}
	m.walk(ct, cte, m.body, 0)
	return m.parts
}

func (m *Message) walk(ct, cte string, body []byte, depth int) {
	if len(m.parts) >= maxMIMEParts {
		return
	}
	typ, params, err := mime.ParseMediaType(ct)
	if err != nil || ct == "" {
		typ, params = "text/plain", map[string]string{"charset": "us-ascii"}
	}
	if strings.HasPrefix(typ, "multipart/") && params["boundary"] != "" && depth < maxMIMEDepth {
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for len(m.parts) < maxMIMEParts {
			p, err := r.NextRawPart()
			if err != nil {
				return
			}
			b, err := io.ReadAll(io.LimitReader(p, int64(len(body))+1))
			if err != nil && !errors.Is(err, io.EOF) {
				return
			}
			m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), b, depth+1)
		}
		return
	}
	m.parts = append(m.parts, bodyPart{typ: typ, text: decodeText(body, cte, params["charset"])})
}

// decodeText undoes the transfer encoding; text in a charset other than
// UTF-8 or ASCII is turned into UTF-8 when it is Latin-1, else kept.
func decodeText(body []byte, cte, charset string) string {
	var r io.Reader = bytes.NewReader(body)
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, _ := io.ReadAll(io.LimitReader(r, maxBodyText))
	cs := strings.ToLower(charset)
	if (cs == "iso-8859-1" || cs == "latin1" || cs == "windows-1252") && !utf8.Valid(b) {
		return latin1(b)
	}
	return string(b)
}

// latin1 turns ISO-8859-1 bytes into UTF-8.
func latin1(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

// newlineStripper drops CR and LF, which base64 bodies are wrapped with.
type newlineStripper struct{ r io.Reader }

func (s newlineStripper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != '\r' && c != '\n' {
			p[j] = c
			j++
		}
	}
	if j == 0 && n > 0 && err == nil {
		return s.Read(p)
	}
	return j, err
}

// charsetReader lets RFC 2047 words in Latin-1 decode; other charsets
// are left encoded (the comparison then simply does not match).
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "windows-1252":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		return strings.NewReader(latin1(b)), nil
	}
	return nil, errors.New("unsupported charset " + charset)
}

// bodyTexts is what the body test compares against for a transform.
func (m *Message) bodyTexts(transform string, types []string) []string {
	if transform == "raw" {
		return []string{string(m.body[:min(len(m.body), maxBodyText)])}
	}
	if transform != "content" {
		types = []string{"text"}
	}
	var out []string
	for _, p := range m.leafParts() {
		if typeMatches(p.typ, types) {
			out = append(out, p.text)
		}
	}
	return out
}

func typeMatches(typ string, types []string) bool {
	for _, t := range types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch {
		case t == "":
			return true
		case strings.Contains(t, "/") && t == typ:
			return true
		case !strings.Contains(t, "/") && strings.HasPrefix(typ, t+"/"):
			return true
		}
	}
	return false
}
