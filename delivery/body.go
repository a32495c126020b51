package delivery

import (
	"bytes"
	"io"
	"time"
)

// normalize returns body with every line ending as CRLF and no NUL bytes,
// ending in CRLF. Bare CR and bare LF each become CRLF, so none of the
// SMTP smuggling sequences (LF.LF, CR.CR, LF.CRLF, CRLF.LF, NUL.) can
// reach the next hop: after this only CRLF.CRLF could end DATA, and the
// dot-stuffing of the DATA writer doubles any line-leading dot. NUL is
// dropped because RFC 5321 forbids it and receivers that delete it would
// see "\r\n\x00.\r\n" as the end of data.
func normalize(body []byte) []byte {
	if clean8(body) {
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

// clean8 reports whether body already has only CRLF line ends, no NUL,
// and a final CRLF, so normalize can skip the copy.
func clean8(body []byte) bool {
	if len(body) < 2 || !bytes.HasSuffix(body, []byte("\r\n")) || bytes.IndexByte(body, 0) >= 0 {
		return false
	}
	for i, c := range body {
		switch c {
		case '\r':
			if i+1 >= len(body) || body[i+1] != '\n' {
				return false
			}
		case '\n':
			if i == 0 || body[i-1] != '\r' {
				return false
			}
		}
	}
	return true
}

// deadliner is the part of net.Conn that bounds each write.
type deadliner interface{ SetWriteDeadline(time.Time) error }

// writeBlocks writes body in blocks, giving each its own deadline: RFC
// 5321 §4.5.3.2.5 times each data block, not the whole transfer.
func writeBlocks(w io.Writer, conn deadliner, body []byte, block time.Duration) error {
	const size = 64 << 10
	for len(body) > 0 {
		n := min(size, len(body))
		conn.SetWriteDeadline(time.Now().Add(block))
		if _, err := w.Write(body[:n]); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}
