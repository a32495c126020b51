package smtpdata

import (
	"bytes"
	"io"
)

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
	Stuff(content, func(b []byte) error { dst = append(dst, b...); return nil })
	if len(content) > 0 && !bytes.HasSuffix(content, crlfDot[:2]) {
		dst = append(dst, "\r\n"...)
	}
	return append(dst, ".\r\n"...)
}

// Writer streams content as multi-line data (an SMTP DATA body, a POP3
// multi-line response: RFC 1939 section 3): every LF or CRLF line end
// goes out as CRLF, a line that starts with "." gets one more, and Close
// ends the last line if needed and writes the ".\r\n" end line. A CR not
// followed by LF is kept as it is: what was stored is what is read back.
// Unlike Stuff, it takes stored text that may use bare LF line ends.
type Writer struct {
	W io.Writer

	mid bool // inside a line (the zero value starts at a line start)
	cr  bool // the last byte written to us was a CR, not yet sent
	err error
}

// Write encodes p; it returns len(p) unless W failed.
func (e *Writer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && e.err == nil {
		if !e.mid && p[0] == '.' {
			e.put(dot)
		}
		k := bytes.IndexByte(p, '\n')
		line := p
		if k >= 0 {
			line = p[:k]
		}
		if e.cr && (k != 0) {
			e.put([]byte{'\r'}) // a CR that was not part of a CRLF after all
		}
		e.cr = false
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line, e.cr = line[:len(line)-1], k < 0 // a CR at the end of p may start a CRLF
		}
		e.put(line)
		if k < 0 {
			e.mid = e.mid || len(p) > 0
			break
		}
		e.put(crlfDot[:2])
		e.mid, p = false, p[k+1:]
	}
	if e.err != nil {
		return 0, e.err
	}
	return n, nil
}

// Close writes what ends the data: a held CR, a CRLF if the last line
// had none, and the end line. It does not close W.
func (e *Writer) Close() error {
	if e.cr {
		e.put([]byte{'\r'})
	}
	if e.mid {
		e.put(crlfDot[:2])
	}
	e.put([]byte(".\r\n"))
	return e.err
}

func (e *Writer) put(b []byte) {
	if e.err == nil && len(b) > 0 {
		_, e.err = e.W.Write(b)
	}
}
