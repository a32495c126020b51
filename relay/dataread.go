package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// deadlineReader applies limits.data_timeout to DATA read through
// go-smtp's reader: one deadline for the whole message, set when DATA
// starts, so a client that trickles a byte now and then is cut off as
// surely as one that stalls (go-smtp only sets a read deadline when it
// reads a command line).
type deadlineReader struct {
	r     io.Reader
	conn  net.Conn
	until time.Time
	set   bool
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if !d.set {
		d.conn.SetReadDeadline(d.until)
		d.set = true
	}
	return d.r.Read(p)
}

// readContent reads a message's content: itself, in bulk, when the
// front allows it (a DATA command on a connection without TLS), or
// through go-smtp's reader r. All of it must arrive within
// limits.data_timeout of the start.
func (ss *session) readContent(r io.Reader) (content, error) {
	until := time.Now().Add(ss.srv.conf().Limits.DataTimeout.D()) // wall clock: deadlines
	if pr, bdat := r.(*io.PipeReader); bdat {
		return ss.readChunks(pr, until)
	}
	f := ss.be.front
	if f == nil || ss.conn.Conn() != net.Conn(f) || !f.claim() {
		return readContent(&deadlineReader{r: r, conn: ss.conn.Conn(), until: until}, ss.srv.opts.SpillDir)
	}
	lim := ss.srv.conf().Limits
	var watch func([]byte) // the smuggling tap sees these bytes too
	if tap, ok := ss.conn.Server().Debug.(*smuggleTap); ok {
		watch = func(b []byte) { tap.Write(b) }
	}
	c, err := f.readContent(dataLimits{size: int64(lim.MaxMessageSize), line: lim.MaxLineLength, until: until, tap: watch, dir: ss.srv.opts.SpillDir})
	switch err {
	case smtpdata.ErrTooLarge:
		err = smtp.ErrDataTooLarge
	case smtpdata.ErrLineTooLong:
		err = smtp.ErrTooLongLine
	}
	return c, err
}

// readChunks reads the content of BDAT chunks, which go-smtp's own
// goroutine feeds into pr, each chunk under go-smtp's command deadline.
// A client that sends chunk after small chunk is stopped at until all the
// same: it is told 421 and the connection is closed (hangUp), whatever
// go-smtp is waiting for at that moment.
func (ss *session) readChunks(pr *io.PipeReader, until time.Time) (content, error) {
	t := time.AfterFunc(time.Until(until), func() {
		pr.CloseWithError(errDataTimeout)
		ss.hangUp(errDataTimeout)
	})
	c, err := readContent(pr, ss.srv.opts.SpillDir)
	if !t.Stop() {
		c.close()
		return content{}, errDataTimeout // the timer fired: the connection is gone
	}
	return c, err
}

// hangUp sends reply and closes the connection, from any goroutine: go-smtp
// may be blocked reading a command or a chunk, and its later writes then
// fail instead of following the 421.
func (ss *session) hangUp(r *smtp.SMTPError) {
	ss.log.Info("data timeout", "after", ss.srv.conf().Limits.DataTimeout.D().String())
	c := ss.conn.Conn()
	c.SetWriteDeadline(time.Now().Add(closeFlush))
	fmt.Fprintf(c, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	c.Close()
}

// Replies for a message that stopped arriving.
var (
	errDataTimeout = reply(421, 4, 4, 2, "Timeout waiting for message data; closing connection")
	errDataBroken  = reply(421, 4, 4, 0, "Error reading message data; closing connection")
)

// abortData handles a DATA read that failed midway (timeout, reset): the
// rest of the message may still arrive, and go-smtp would read it as
// commands. The front then answers every read with EOF, so go-smtp closes
// the session after sending the reply (shutting the read side alone is
// not enough: on Linux bytes that arrive after it are still read). It
// runs on the connection's goroutine (DATA, not BDAT).
func (ss *session) abortData(err error) error {
	if f := ss.be.front; f != nil {
		f.err = errFrontClosed
	}
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
