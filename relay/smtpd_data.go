package relay

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// dataIn is the content of one DATA command as the session reads it:
// straight from the connection's buffer, in bulk, by smtpdata.Reader.
type dataIn struct {
	d    *smtpdata.Reader
	conn *smtpConn
}

func (in *dataIn) Read(p []byte) (int, error) { return in.d.Read(p) }

// data answers DATA: 354, the session reads and judges the content, then
// its reply. It reports whether the conversation goes on: not after the
// content stopped arriving or broke a line limit.
func (c *smtpConn) data(arg string) bool {
	switch {
	case arg != "":
		c.reply(501, code(5, 5, 4), "DATA command should not have any arguments")
		return true
	case c.bdat != nil:
		c.reply(502, code(5, 5, 1), "DATA not allowed during message transfer")
		return true
	case !c.fromOK || c.rcpts == 0:
		c.reply(502, code(5, 5, 1), "Missing RCPT TO command.")
		return true
	}
	c.reply(354, noCode, "Go ahead. End your data with <CR><LF>.<CR><LF>")
	lim := c.lim
	in := &dataIn{d: &smtpdata.Reader{R: c.r, Limit: int64(lim.MaxMessageSize), LineLimit: lim.MaxLineLength}, conn: c}
	errs := c.receive(in)
	// The session may stop reading early (a refusal): the rest of the
	// content must still be read up to its end line, never run as commands.
	readErr := in.d.Drain()
	c.replyData(errs)
	defer c.reset()
	if errors.Is(readErr, smtpdata.ErrLineTooLong) {
		c.reply(500, code(5, 4, 0), "Too long line, closing connection")
	}
	return readErr == nil
}

// bdatState is a BDAT transfer (RFC 3030) in progress: the session reads
// the chunks from a pipe, on its own goroutine, while the connection's
// goroutine copies each chunk into it.
type bdatState struct {
	pw     *io.PipeWriter
	result chan []error // the replies to BDAT LAST (lmtp.go: receive)
	size   int64
}

// bdatCmd answers one BDAT command and reads its chunk.
func (c *smtpConn) bdatCmd(arg string) bool {
	size, last, r := parseBDAT(arg)
	if r != nil {
		c.replyErr(r)
		return true
	}
	if !c.fromOK || c.rcpts == 0 {
		c.reply(502, code(5, 5, 1), "Missing RCPT TO command.")
		return c.discard(size) // the chunk follows the command all the same
	}
	var sofar int64
	if c.bdat != nil {
		sofar = c.bdat.size
	}
	if max := int64(c.lim.MaxMessageSize); max > 0 && sofar+size > max {
		c.replyChunk(last, errReply(552, code(5, 3, 4), "Max message size exceeded"))
		ok := c.discard(size)
		c.reset()
		return ok
	}
	if c.bdat == nil {
		c.startBDAT()
	}
	chunk := io.LimitReader(c.r, size)
	if _, err := io.Copy(c.bdat.pw, chunk); err != nil {
		// The session gave up early (its error is the pipe's): the rest
		// of the chunk is dropped. A broken connection fails the next read.
		io.Copy(io.Discard, chunk)
		c.replyChunk(last, asReply(err))
		c.reset()
		return true
	}
	c.bdat.size += size
	if !last {
		c.reply(250, code(2, 0, 0), "Continue")
		return true
	}
	c.bdat.pw.Close()
	errs := <-c.bdat.result
	c.bdat = nil
	c.replyData(errs)
	c.reset()
	return true
}

// replyChunk answers a BDAT chunk refused as a whole: one reply, or for
// BDAT LAST on LMTP one per recipient, which is what the client waits for.
func (c *smtpConn) replyChunk(last bool, err error) {
	if last {
		c.replyData(c.forEach(err))
		return
	}
	c.replyErr(err)
}

// parseBDAT parses "size [LAST]".
func parseBDAT(arg string) (size int64, last bool, r *smtp.SMTPError) {
	f := strings.Fields(arg)
	switch {
	case len(f) == 0:
		return 0, false, errReply(501, code(5, 5, 4), "Missing chunk size argument")
	case len(f) > 2:
		return 0, false, errReply(501, code(5, 5, 4), "Too many arguments")
	case len(f) == 2 && !strings.EqualFold(f[1], "LAST"):
		return 0, false, errReply(501, code(5, 5, 4), "Unknown BDAT argument")
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return 0, false, errReply(501, code(5, 5, 4), "Malformed size argument")
	}
	return int64(n), len(f) == 2, nil
}

// startBDAT starts the session's Data on the read end of a pipe.
func (c *smtpConn) startBDAT() {
	pr, pw := io.Pipe()
	b := &bdatState{pw: pw, result: make(chan []error, 1)}
	c.bdat = b
	internal := c.forEach(errInternal) // made here: the session is the connection goroutine's
	go func() {
		defer func() {
			if v := recover(); v != nil {
				c.srv.metrics.panics.Inc()
				c.srv.log.Error("panic reading BDAT", "panic", v)
				pr.CloseWithError(errInternal)
				b.result <- internal
			}
		}()
		errs := c.receive(pr)
		// A session that stopped reading early refused the whole message,
		// so the first reply is the one for every recipient.
		pr.CloseWithError(asReply(errs[0]))
		b.result <- errs
	}()
}

// endBDAT abandons a transfer in progress (RSET, a new EHLO, the end of
// the connection) and waits for the session to let go of it, so that it
// never runs beside the next transaction.
func (c *smtpConn) endBDAT() {
	if c.bdat == nil {
		return
	}
	c.bdat.pw.CloseWithError(smtp.ErrDataReset)
	<-c.bdat.result
	c.bdat = nil
}

// discard reads and drops n bytes of a refused chunk, after sending the
// refusal: a client may wait for it before sending the chunk.
func (c *smtpConn) discard(n int64) bool {
	if c.flush() != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, c.r, n)
	return err == nil
}

// asReply keeps an *smtp.SMTPError as it is and makes anything else the
// generic internal error (nil stays nil).
func asReply(err error) error {
	var se *smtp.SMTPError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return errInternal
}

// errInternal is the reply to a failure that is ours, not the client's.
var errInternal = errReply(451, code(4, 3, 0), "Internal error; try again later")
