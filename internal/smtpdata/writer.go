package smtpdata

import "bytes"

// crlfDot is where dot-stuffing applies inside content: a line that starts
// with ".".
var crlfDot = []byte("\r\n.")

// AppendStuffed appends content to dst as the data of a DATA command: a
// "." doubled at the start of every line (RFC 5321 section 4.5.2), a CRLF
// added when content does not end with one, then the ".\r\n" end line.
// Empty content gives just the end line. The searches run over the whole
// buffer, so a client can stuff a message once and send it in one write.
//
// Only CRLF starts a line here, as in Reader: content with bare LFs is
// not made valid SMTP by this function.
func AppendStuffed(dst, content []byte) []byte {
	if len(content) == 0 {
		return append(dst, ".\r\n"...)
	}
	if content[0] == '.' {
		dst = append(dst, '.')
	}
	rest := content
	for {
		k := bytes.Index(rest, crlfDot)
		if k < 0 {
			break
		}
		dst = append(dst, rest[:k+3]...)
		dst = append(dst, '.')
		rest = rest[k+3:]
	}
	dst = append(dst, rest...)
	if !bytes.HasSuffix(content, crlfDot[:2]) {
		dst = append(dst, "\r\n"...)
	}
	return append(dst, ".\r\n"...)
}
