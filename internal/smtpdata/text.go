package smtpdata

import "bytes"

// HasBareLineEnding reports whether b holds a CR not followed by LF or an
// LF not preceded by CR: the raw material of SMTP smuggling, which the
// relay never stores and delivery never relays. When every LF follows a
// CR and there are as many CRs as LFs, every CR is followed by its LF;
// both scans are the vectorised byte searches (bytes.IndexAny over two
// bytes goes one byte at a time: 5% of the relay's CPU at 100 KB per
// message in a perf profile under mailgate-bench send, BENCHMARKS.md).
func HasBareLineEnding(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if k := i + j; k == 0 || b[k-1] != '\r' {
			return true
		}
		i += j + 1
	}
	return bytes.Count(b, []byte{'\r'}) != bytes.Count(b, []byte{'\n'})
}

// IsText reports whether body is already what Normalize returns: CRLF
// line ends only, no NUL, a final CRLF; Normalize then skips the copy.
func IsText(body []byte) bool {
	return len(body) >= 2 && bytes.HasSuffix(body, []byte("\r\n")) &&
		bytes.IndexByte(body, 0) < 0 && !HasBareLineEnding(body)
}

// Normalize returns body with every line ending as CRLF and no NUL bytes,
// ending in CRLF. Bare CR and bare LF each become CRLF, so none of the
// SMTP smuggling sequences (LF.LF, CR.CR, LF.CRLF, CRLF.LF, NUL.) can
// reach the next hop: after this only CRLF.CRLF could end DATA, and
// Stuff doubles any line-leading dot. NUL is dropped because RFC 5321
// forbids it and receivers that delete it would see "\r\n\x00.\r\n" as
// the end of data.
func Normalize(body []byte) []byte {
	if IsText(body) {
		return body
	}
	out := make([]byte, 0, len(body)+len(body)/32+2)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case 0:
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(body) && body[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// dot is the byte Stuff inserts.
var dot = []byte(".")

// Stuff hands emit the pieces of content dot-stuffed (RFC 5321 section
// 4.5.2): content's own bytes, in order and never copied, with a "."
// piece before every line that starts with "."; only CRLF starts a line.
// It stops at emit's first error. The searches run over the whole
// buffer: a byte-at-a-time writer (net/textproto's dotWriter) was 13% of
// the server's CPU at 100 KB per message (BenchmarkAppendStuffed; perf under
// mailgate-bench send, BENCHMARKS.md).
func Stuff(content []byte, emit func([]byte) error) error {
	if len(content) > 0 && content[0] == '.' {
		if err := emit(dot); err != nil {
			return err
		}
	}
	for len(content) > 0 {
		k := bytes.Index(content, crlfDot)
		if k < 0 {
			return emit(content)
		}
		if err := emit(content[:k+2]); err != nil {
			return err
		}
		if err := emit(dot); err != nil {
			return err
		}
		content = content[k+2:]
	}
	return nil
}
