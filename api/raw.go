package api

import (
	"bytes"
	"net/mail"

	"mailgate/filters"
)

// maxLine is RFC 5322's limit on a line, without CRLF.
const maxLine = 998

// normalizeRaw returns a raw message with CRLF line endings (JSON clients
// often send bare LF), or a 400 naming what is wrong: a NUL, a bare CR
// (a smuggling sequence in waiting), an overlong line, no header.
func normalizeRaw(s string) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(s) + len(s)/40)
	line := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			return nil, badField("raw", "contains a NUL byte, which is not text (RFC 5322)")
		case c == '\r' && (i+1 >= len(s) || s[i+1] != '\n'):
			return nil, badField("raw", "contains a CR without LF; end lines with CRLF or LF")
		case c == '\r':
			continue
		case c == '\n':
			out.WriteString("\r\n")
			line = 0
			continue
		}
		if line++; line > maxLine {
			return nil, badField("raw", "has a line longer than %d characters (RFC 5322 section 2.1.1); encode the body (quoted-printable or base64)", maxLine)
		}
		out.WriteByte(c)
	}
	b := out.Bytes()
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, '\r', '\n')
	}
	return b, nil
}

// rawEnvelope completes env from the raw message's header: the sender
// from From when the request gave none, the recipients from To, Cc and
// Bcc when it gave none. It returns the message without its Bcc fields.
func rawEnvelope(raw []byte, env *envelope, maxRcpts int) ([]byte, error) {
	n := filters.HeaderLen(raw)
	if n == len(raw) && !bytes.Contains(raw, []byte("\r\n\r\n")) {
		return nil, badField("raw", "has no empty line after its header fields; write the header, an empty line, then the body")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw[:n]))
	if err != nil {
		return nil, badField("raw", "the header does not parse (RFC 5322): each line is Name: value")
	}
	if env.from == nil {
		list, err := msg.Header.AddressList("From")
		if err != nil || len(list) != 1 {
			return nil, badField("raw", "needs one From header field with one address, or give from in the request")
		}
		env.from = list[0]
	}
	if len(env.rcpts) == 0 {
		seen := map[string]bool{}
		for _, f := range []string{"To", "Cc", "Bcc"} {
			list, err := msg.Header.AddressList(f)
			if err != nil && err != mail.ErrHeaderNotPresent {
				return nil, badField("raw", "the %s header field does not parse; or give to, cc and bcc in the request", f)
			}
			for _, a := range list {
				if !seen[a.Address] {
					seen[a.Address] = true
					env.rcpts = append(env.rcpts, a.Address)
				}
			}
		}
	}
	if len(env.rcpts) == 0 {
		return nil, badField("to", "no recipient: give to, cc or bcc, or To/Cc/Bcc fields in raw")
	}
	if len(env.rcpts) > maxRcpts {
		return nil, badField("to", "%d recipients; the limit is %d (limits.max_recipients)", len(env.rcpts), maxRcpts)
	}
	return dropField(raw, n, "Bcc"), nil
}

// dropField removes every occurrence of a header field (with its folded
// lines) from raw's header of length n.
func dropField(raw []byte, n int, name string) []byte {
	out := make([]byte, 0, len(raw))
	skipping := false
	for i := 0; i < n; {
		j := bytes.Index(raw[i:n], []byte("\r\n"))
		if j < 0 {
			j = n - i - 2
		}
		line := raw[i : i+j+2]
		if line[0] != ' ' && line[0] != '\t' {
			k := bytes.IndexByte(line, ':')
			skipping = k > 0 && bytes.EqualFold(bytes.TrimRight(line[:k], " \t"), []byte(name))
		}
		if !skipping {
			out = append(out, line...)
		}
		i += j + 2
	}
	return append(out, raw[n:]...)
}
