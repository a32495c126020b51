package pop3

import (
	"bufio"
	"io"
)

// copyDotStuffed writes a message as a POP3 multi-line response body
// (RFC 1939 section 3): every line ends in CRLF (a bare LF becomes CRLF), a
// line starting with "." gets one more ".", and the response ends with
// ".\r\n". With bodyLines >= 0 only the header, the blank line after it and
// that many body lines are written (TOP). It returns the octets read.
func copyDotStuffed(w *bufio.Writer, src io.Reader, bodyLines int) (int64, error) {
	br := bufio.NewReaderSize(src, 32<<10)
	var read int64
	atStart, inBody, pendingCR := true, false, false
	for {
		chunk, err := br.ReadSlice('\n')
		read += int64(len(chunk))
		if len(chunk) > 0 {
			complete := chunk[len(chunk)-1] == '\n'
			line := chunk
			if complete {
				line = trimEOL(line)
			}
			if pendingCR && !(complete && len(line) == 0 && chunk[0] == '\n') {
				w.WriteByte('\r') // a CR that was not part of a CRLF after all
			}
			pendingCR = false
			if atStart {
				if inBody {
					if bodyLines == 0 {
						break
					}
					if bodyLines > 0 {
						bodyLines--
					}
				} else if complete && len(line) == 0 {
					inBody = true
				}
				if len(line) > 0 && line[0] == '.' {
					w.WriteByte('.')
				}
			}
			if !complete && line[len(line)-1] == '\r' {
				// A CR at the end of a full buffer may start a CRLF.
				line, pendingCR = line[:len(line)-1], true
			}
			w.Write(line)
			if complete {
				w.WriteString("\r\n")
			}
			atStart = complete
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return read, err
		}
	}
	if pendingCR {
		w.WriteByte('\r')
	}
	if !atStart {
		w.WriteString("\r\n")
	}
	_, err := w.WriteString(".\r\n")
	return read, err
}

// trimEOL removes a line's LF or CRLF.
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}
