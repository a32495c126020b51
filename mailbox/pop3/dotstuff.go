package pop3

import (
	"bufio"
	"bytes"
	"io"

	"mailgate/internal/smtpdata"
)

// copyDotStuffed writes a message as a POP3 multi-line response body
// (RFC 1939 section 3) with the one SMTP text codec (smtpdata.Writer):
// every line ends in CRLF (a bare LF becomes CRLF), a line starting with
// "." gets one more ".", and the response ends with ".\r\n". With
// bodyLines >= 0 only the header, the blank line after it and that many
// body lines are written (TOP). It returns the octets read.
func copyDotStuffed(w *bufio.Writer, src io.Reader, bodyLines int) (int64, error) {
	cr := &countReader{r: src}
	var r io.Reader = cr
	if bodyLines >= 0 {
		r = &topReader{r: cr, left: bodyLines}
	}
	enc := &smtpdata.Writer{W: w}
	buf := make([]byte, 32<<10)
	if _, err := io.CopyBuffer(struct{ io.Writer }{enc}, struct{ io.Reader }{r}, buf); err != nil {
		return cr.n, err
	}
	return cr.n, enc.Close()
}

// countReader counts the octets read from r.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// topReader ends its input after the header, the blank line that ends
// it and left more lines (LF or CRLF ended): what TOP sends.
type topReader struct {
	r      io.Reader
	left   int
	inBody bool
	line   int  // bytes of the current line so far
	cr     bool // the last of them is a CR
	done   bool
}

func (t *topReader) Read(p []byte) (int, error) {
	if t.done {
		return 0, io.EOF
	}
	n, err := t.r.Read(p)
	if cut := t.scan(p[:n]); cut >= 0 {
		t.done = true
		return cut, nil
	}
	return n, err
}

// scan follows the lines of b and returns where the output ends (after
// the LF of the last line to send), or -1 if not in b.
func (t *topReader) scan(b []byte) int {
	for i := 0; ; {
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			if rest := b[i:]; len(rest) > 0 {
				t.line += len(rest)
				t.cr = rest[len(rest)-1] == '\r'
			}
			return -1
		}
		line := t.line + k
		blank := line == 0 || (line == 1 && (t.cr && k == 0 || k == 1 && b[i] == '\r'))
		i += k + 1
		t.line, t.cr = 0, false
		switch {
		case !t.inBody:
			t.inBody = blank
			if blank && t.left == 0 {
				return i
			}
		default:
			if t.left--; t.left <= 0 {
				return i
			}
		}
	}
}
