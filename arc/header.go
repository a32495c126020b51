package arc

import (
	"strings"

	"mailgate/internal/msgheader"
)

// field is one header field as written (msgheader.Field).
type field = msgheader.Field

// split returns the header fields of msg, top first, and the body (what
// follows the empty line).
func split(msg []byte) ([]field, []byte) {
	fields, body := msgheader.Split(msg)
	return fields, msg[body:]
}

// relaxedHeader is RFC 6376 section 3.4.2: lower-case name, unfolded
// value with runs of white space made one space, no space around the
// colon or at the end; CRLF appended.
func relaxedHeader(name, value string) string {
	return strings.ToLower(strings.TrimSpace(name)) + ":" + compress(value) + "\r\n"
}

// compress unfolds s, turns runs of spaces and tabs into one space and
// trims both ends.
func compress(s string) string {
	s = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(s)
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// collapse turns runs of spaces into one space in a single pass.
func collapse(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tags parses a tag=value list (RFC 6376 section 3.2): only the last
// ";" may end an empty part, a name starts with a letter and holds
// letters, digits and "_", no name twice. White space inside values is
// removed, as b=, bh= and h= may be folded anywhere.
func tags(value string) (map[string]string, bool) {
	out := map[string]string{}
	parts := strings.Split(value, ";")
	for n, part := range parts {
		if strings.TrimSpace(part) == "" && n == len(parts)-1 && n > 0 {
			break
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || !tagName(k) {
			return nil, false
		}
		if _, dup := out[k]; dup {
			return nil, false
		}
		out[k] = strings.Join(strings.Fields(v), "")
	}
	return out, true
}

func tagName(k string) bool {
	if k == "" || !('a' <= k[0] && k[0] <= 'z' || 'A' <= k[0] && k[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// withoutB empties the value of the b= tag of a signature field's value,
// as the signer did before signing (RFC 6376 section 3.7).
func withoutB(value string) string {
	parts := strings.Split(value, ";")
	for i, part := range parts {
		k, _, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(k) == "b" {
			parts[i] = part[:strings.IndexByte(part, '=')+1]
		}
	}
	return strings.Join(parts, ";")
}
