package delivery

import (
	"net"
	"time"

	"mailgate/internal/smtpdata"
)

// writeStuffed sends body (normalized: CRLF lines ending in CRLF) as
// DATA content, dot-stuffed, in blocks that each get their own deadline
// (RFC 5321 §4.5.3.2.5 times each data block, not the whole transfer).
// It writes straight to the connection the SMTP client speaks over:
// go-smtp's DATA writer (net/textproto's dotWriter) handles one byte per
// call, 13% of the server's CPU at 100 KB per message. The body's final
// CRLF is left for the caller to send through go-smtp's writer, so that
// its Close sees a line end and adds only ".\r\n".
func writeStuffed(conn net.Conn, body []byte, block time.Duration) error {
	return writeStuffedThen(conn, body[:len(body)-2], nil, block)
}

// writeStuffedThen writes body dot-stuffed, then trailer as it is, in the
// same writes: a pipelined transaction ends its content with
// "\r\n.\r\n" itself (see dialer.pipeline).
func writeStuffedThen(conn net.Conn, body, trailer []byte, block time.Duration) error {
	const size = 64 << 10
	var parts net.Buffers
	queued := 0
	flush := func() error {
		conn.SetWriteDeadline(time.Now().Add(block))
		_, err := parts.WriteTo(conn)
		parts, queued = parts[:0], 0
		return err
	}
	add := func(b []byte) error {
		parts = append(parts, b)
		if queued += len(b); queued >= size {
			return flush()
		}
		return nil
	}
	if err := smtpdata.Stuff(body, add); err != nil {
		return err
	}
	if len(trailer) > 0 {
		if err := add(trailer); err != nil {
			return err
		}
	}
	err := flush()
	conn.SetWriteDeadline(time.Time{})
	return err
}
