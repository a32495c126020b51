// Package smtpdata is mailgate's one SMTP text codec: it reads and
// writes the content of an SMTP DATA command (RFC 5321 section 4.5.2:
// dot-stuffing and the "<CRLF>.<CRLF>" end) in bulk, streams a POP3
// multi-line response, and scans and normalises line ends and NUL. The
// relay, delivery, POP3 and the load tool all use it. go-smtp and
// net/textproto do it one byte per call, which was a fifth of mailgate's
// CPU at 100 KB per message; the byte searches used here run over whole
// buffers (BenchmarkReader against BenchmarkTextprotoDotReader).
package smtpdata

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Errors of Reader. A caller that speaks for go-smtp maps them to
// go-smtp's ErrDataTooLarge and ErrTooLongLine.
var (
	ErrTooLarge    = errors.New("smtpdata: message larger than the limit")
	ErrLineTooLong = errors.New("smtpdata: line longer than the limit")
)

// States of the reader, those of go-smtp's dataReader (and of
// net/textproto's dotReader), so that both readers end a message at the
// same byte whatever the client sends (FuzzReader checks it): mailgate
// ends a message where go-smtp-based servers and clients would.
const (
	stateBeginLine = iota // at the start of a line (after CRLF)
	stateDot              // read "." at the start of a line
	stateDotCR            // read ".\r" at the start of a line
	stateCR               // read "\r"
	stateData             // inside a line
	stateEOF              // read the ".\r\n" end line
)

// Reader returns the message content of a DATA command read from R:
// line-leading dots removed, the end line not included, io.EOF after it.
// A "." and a CR at the start of a line that no LF follows are dropped,
// as go-smtp does; callers that care (smuggling checks) watch Tap.
//
// Like go-smtp, LineLimit counts raw bytes between LFs, and Limit bounds
// the content returned: ErrTooLarge once more than Limit bytes would be
// returned; Drain then reads on to the end line. Errors other than
// ErrTooLarge stay: every later Read returns them.
type Reader struct {
	R         *bufio.Reader
	Limit     int64        // largest content in bytes; 0 means none
	LineLimit int          // longest line, LF included; 0 means none
	Tap       func([]byte) // sees every raw byte consumed, in order

	state    int
	n        int64 // content bytes returned
	line     int   // go-smtp's lineLimitReader count for the current line
	counting bool
	err      error
}

// Read implements io.Reader. It blocks for more input only when it has
// nothing to return yet.
func (d *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if d.err != nil {
			return n, d.err
		}
		if d.state == stateEOF {
			return n, io.EOF
		}
		if n > 0 && d.R.Buffered() == 0 {
			return n, nil
		}
		room := p[n:]
		if d.Limit > 0 && int64(len(room)) > d.Limit-d.n+1 {
			room = room[:d.Limit-d.n+1]
		}
		w, err := d.step(room)
		n += w
		d.n += int64(w)
		if err != nil {
			d.err = err
		} else if d.Limit > 0 && d.n > d.Limit {
			return n, ErrTooLarge
		}
	}
	if d.state == stateEOF {
		return n, io.EOF
	}
	return n, d.err
}

// Drain reads and drops the rest of the content up to the end line, with
// no size limit, so that the session can go on after refusing a message
// that was too large.
func (d *Reader) Drain() error {
	d.Limit = 0
	buf := make([]byte, 4096)
	for {
		_, err := d.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// step decodes one buffer's worth of input into out.
func (d *Reader) step(out []byte) (int, error) {
	if _, err := d.R.Peek(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, err
	}
	in, _ := d.R.Peek(d.R.Buffered())
	used, w := d.decode(in, out)
	if err := d.countLines(in[:used]); err != nil {
		return 0, err
	}
	if d.Tap != nil {
		d.Tap(in[:used])
	}
	d.R.Discard(used)
	return w, nil
}

// decode runs go-smtp's state machine over in, copying the runs of
// ordinary bytes inside a line at once (only CR changes the state there).
func (d *Reader) decode(in, out []byte) (used, w int) {
	i := 0
	for i < len(in) && w < len(out) && d.state != stateEOF {
		if d.state == stateData {
			run := in[i:min(len(in), i+len(out)-w)]
			if k := bytes.IndexByte(run, '\r'); k >= 0 {
				run = run[:k]
			}
			w += copy(out[w:], run)
			i += len(run)
			if i == len(in) || w == len(out) {
				break
			}
		}
		c := in[i]
		i++
		if d.next(c) {
			out[w] = c
			w++
		}
	}
	return i, w
}

// next moves the state on by one byte and reports whether the byte is
// content.
func (d *Reader) next(c byte) bool {
	switch d.state {
	case stateBeginLine:
		switch c {
		case '.':
			d.state = stateDot
			return false
		case '\r':
			d.state = stateCR
		default:
			d.state = stateData
		}
	case stateDot:
		if c == '\r' {
			d.state = stateDotCR
			return false
		}
		d.state = stateData
	case stateDotCR:
		if c == '\n' {
			d.state = stateEOF
			return false
		}
		d.state = stateData
	case stateCR:
		if c == '\n' {
			d.state = stateBeginLine
		} else {
			d.state = stateData
		}
	case stateData:
		if c == '\r' {
			d.state = stateCR
		}
	}
	return true
}

// countLines applies LineLimit the way go-smtp's lineLimitReader does: an
// LF starts a new count that includes the LF itself.
func (d *Reader) countLines(b []byte) error {
	if d.LineLimit <= 0 {
		return nil
	}
	if !d.counting {
		d.counting, d.line = true, 1 // the LF that ended the DATA command
	}
	for len(b) > 0 {
		k := bytes.IndexByte(b, '\n')
		if k < 0 {
			d.line += len(b)
			break
		}
		if d.line+k > d.LineLimit {
			return ErrLineTooLong
		}
		d.line = 1
		b = b[k+1:]
	}
	if d.line > d.LineLimit {
		return ErrLineTooLong
	}
	return nil
}
