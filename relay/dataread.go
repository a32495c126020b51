package relay

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// readContent reads a message's content: a DATA command's straight from
// the connection's buffer, in bulk (dataIn), or BDAT chunks from the
// protocol layer's pipe. All of it must arrive within
// limits.data_timeout of the start: one deadline for the whole message,
// so a client that trickles a byte now and then is cut off as surely as
// one that stalls.
func (ss *session) readContent(r io.Reader) (content, error) {
	until := time.Now().Add(ss.srv.conf().Limits.DataTimeout.D()) // wall clock: deadlines
	if pr, bdat := r.(*io.PipeReader); bdat {
		return ss.readChunks(pr, until)
	}
	in := r.(*dataIn)
	tap := &smuggleTap{state: 1}
	in.d.Tap = tap.Write
	if err := in.conn.flush(); err != nil { // the 354
		return content{}, err
	}
	in.conn.conn.SetReadDeadline(until)
	c, err := readContent(in.d, ss.srv.opts.SpillDir)
	ss.smuggled = tap.seen
	switch err {
	case smtpdata.ErrTooLarge:
		err = smtp.ErrDataTooLarge
	case smtpdata.ErrLineTooLong:
		err = smtp.ErrTooLongLine
	}
	return c, err
}

// readChunks reads the content of BDAT chunks, which the connection's
// goroutine feeds into pr, each chunk under the command deadline. A
// client that sends chunk after small chunk is stopped at until all the
// same: it is told 421 and the connection is closed (hangUp), whatever
// the protocol layer is waiting for at that moment.
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

// hangUp sends reply and closes the connection, from any goroutine: the
// protocol layer may be blocked reading a command or a chunk, and its
// later writes then fail instead of following the 421.
func (ss *session) hangUp(r *smtp.SMTPError) {
	ss.log.Info("data timeout", "after", ss.srv.conf().Limits.DataTimeout.D().String())
	ss.conn.writeNow(r)
	ss.conn.raw.Close()
}

// Replies for a message that stopped arriving.
var (
	errDataTimeout = reply(421, 4, 4, 2, "Timeout waiting for message data; closing connection")
	errDataBroken  = reply(421, 4, 4, 0, "Error reading message data; closing connection")
)

// abortData handles a DATA read that failed midway (timeout, reset): the
// rest of the message may still arrive and must never be read as
// commands. The reader's error stays, so the protocol layer closes the
// connection after sending the reply; the read side is shut as well.
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

// closeRead shuts down reading on the TCP connection under c (through
// TLS and the connection limiter), or closes c if it cannot.
func closeRead(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok {
		c = lc.Conn
	}
	if cr, ok := c.(interface{ CloseRead() error }); ok && cr.CloseRead() == nil {
		return
	}
	c.Close()
}
