package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// dataChunk bounds one read of message data, so that data_timeout is the
// longest the client may stall between chunks (RFC 5321 section 4.5.3.2.5
// "data block" timeout) rather than a limit on the whole message.
const dataChunk = 64 << 10

// deadlineReader applies limits.data_timeout while DATA is read: go-smtp
// only sets a read deadline when it reads a command line, so without it a
// message would have to arrive whole within command_timeout of "DATA".
type deadlineReader struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
	now     func() time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if len(p) > dataChunk {
		p = p[:dataChunk]
	}
	d.conn.SetReadDeadline(d.now().Add(d.timeout))
	return d.r.Read(p)
}

// readContent reads a message's content: itself, in bulk, when the
// front allows it (a DATA command on a connection without TLS), or
// through go-smtp's reader r.
func (ss *session) readContent(r io.Reader) ([]byte, error) {
	if _, bdat := r.(*io.PipeReader); bdat {
		return io.ReadAll(r) // go-smtp's own goroutine feeds the pipe
	}
	f := ss.be.front
	if f == nil || ss.conn.Conn() != net.Conn(f) || !f.claim() {
		return io.ReadAll(ss.dataReader(r))
	}
	lim := ss.srv.conf().Limits
	var watch func([]byte) // the smuggling tap sees these bytes too
	if tap, ok := ss.conn.Server().Debug.(*smuggleTap); ok {
		watch = func(b []byte) { tap.Write(b) }
	}
	raw, err := f.readContent(dataLimits{size: int64(lim.MaxMessageSize), line: lim.MaxLineLength, timeout: lim.DataTimeout.D(), tap: watch})
	switch err {
	case smtpdata.ErrTooLarge:
		err = smtp.ErrDataTooLarge
	case smtpdata.ErrLineTooLong:
		err = smtp.ErrTooLongLine
	}
	return raw, err
}

// dataReader wraps r for DATA. BDAT chunks come through a pipe that
// go-smtp fills from its own goroutine, under its command deadline; those
// are left alone.
func (ss *session) dataReader(r io.Reader) io.Reader {
	if _, bdat := r.(*io.PipeReader); bdat {
		return r
	}
	// Deadlines are wall-clock by nature: not the injectable Server.now.
	return &deadlineReader{r: r, conn: ss.conn.Conn(), timeout: ss.srv.conf().Limits.DataTimeout.D(), now: time.Now}
}

// Replies for a message that stopped arriving.
var (
	errDataTimeout = reply(421, 4, 4, 2, "Timeout waiting for message data; closing connection")
	errDataBroken  = reply(421, 4, 4, 0, "Error reading message data; closing connection")
)

// abortData handles a DATA read that failed midway (timeout, reset): the
// rest of the message may still arrive, and go-smtp would read it as
// commands. Shutting the read side makes go-smtp see EOF and close the
// session after sending the reply.
func (ss *session) abortData(err error) error {
	closeRead(ss.conn.Conn())
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		ss.log.Info("data timeout", "after", ss.srv.conf().Limits.DataTimeout.D().String())
		return errDataTimeout
	}
	ss.log.Info("data read failed", "err", err)
	return errDataBroken
}

// underTLS returns the connection under c's TLS (if any) and under the
// front (if any).
func underTLS(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if fc, ok := c.(*frontConn); ok {
		c = fc.Conn
	}
	return c
}

// closeRead shuts down reading on the TCP connection under c (through
// TLS and the connection limiter), or closes c if it cannot.
func closeRead(c net.Conn) {
	c = underTLS(c)
	if lc, ok := c.(*limitedConn); ok {
		c = lc.Conn
	}
	if cr, ok := c.(interface{ CloseRead() error }); ok && cr.CloseRead() == nil {
		return
	}
	c.Close()
}
