package relay

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

// smtpConn is the relay's SMTP protocol layer for one connection: it
// reads command lines, answers them and hands each stage to the session.
// It sits above TLS (it does STARTTLS itself, and implicit TLS is only a
// handshake before the greeting), so the bulk DATA reader
// (internal/smtpdata) and the smuggling check see the clear bytes of
// every session, plain, STARTTLS or implicit TLS. Why not go-smtp's
// server: docs/relay.md.
type smtpConn struct {
	srv      *Server
	be       *backend
	listener config.Listener
	raw      net.Conn // the TCP connection (under TLS when there is TLS)
	// lim are the limits when the connection opened: a reload (SIGHUP)
	// applies to new connections, never to one in the middle of a
	// transaction.
	lim config.Limits
	// lmtp: the listener speaks LMTP (lmtp.go).
	lmtp bool

	// Used by the connection's goroutine only.
	conn     net.Conn // raw, or the TLS connection over it
	tls      *tls.ConnectionState
	r        *bufio.Reader
	helo     string
	sess     *session
	fromOK   bool // MAIL accepted in this transaction
	rcpts    int
	didAuth  bool
	errCount int
	bdat     *bdatState

	wmu  sync.Mutex // Shutdown and the BDAT timer write from other goroutines
	w    *bufio.Writer
	werr error
}

// Limits of the protocol layer.
const (
	// errThreshold protocol errors (unknown commands, syntax) are
	// forgiven; the next one closes the connection.
	errThreshold = 3
	// writeBuffer holds replies until the client waits for them.
	writeBuffer = 4 << 10
)

func newSMTPConn(s *Server, be *backend, c net.Conn) *smtpConn {
	sc := &smtpConn{srv: s, be: be, listener: be.listener, raw: c, conn: c, lim: s.conf().Limits, lmtp: isLMTP(be.listener)}
	sc.r = bufio.NewReaderSize(c, 4<<10)
	sc.w = bufio.NewWriterSize(c, writeBuffer)
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		sc.tls = &st
	}
	return sc
}

// Hostname is the name the client gave in its last HELO or EHLO.
func (c *smtpConn) Hostname() string { return c.helo }

// Conn is the connection the session speaks over now (TLS after it).
func (c *smtpConn) Conn() net.Conn { return c.conn }

// TLSConnectionState is the TLS state, ok false in clear.
func (c *smtpConn) TLSConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil {
		return tls.ConnectionState{}, false
	}
	return *c.tls, true
}

// serve runs the conversation to its end: the greeting (after the
// implicit TLS handshake), then one command after another.
func (c *smtpConn) serve() {
	defer c.close()
	defer c.recoverPanic()
	if tc, ok := c.conn.(*tls.Conn); ok {
		tc.SetDeadline(time.Now().Add(c.lim.CommandTimeout.D()))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
	}
	c.reply(220, noCode, c.srv.conf().Hostname+" "+c.greetingWord()+" Service Ready")
	for {
		line, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !c.handle(line) {
			return
		}
	}
}

// recoverPanic answers a panic in a command (a bug) with 421 and ends the
// connection instead of the whole server; it is logged and counted.
func (c *smtpConn) recoverPanic() {
	if v := recover(); v != nil {
		c.srv.metrics.panics.Inc()
		c.srv.log.Error("panic serving SMTP", "listener", c.listener.Name, "panic", fmt.Sprint(v))
		c.reply(421, code(4, 3, 0), "Internal error; closing connection")
	}
}

// readFailed says why the connection ends, when there is something to say.
func (c *smtpConn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
	case errors.Is(err, smtp.ErrTooLongLine):
		c.reply(500, code(5, 4, 0), "Too long line, closing connection")
	case errors.As(err, &ne) && ne.Timeout():
		c.reply(421, code(4, 4, 2), "Idle timeout, bye bye")
	default:
		c.reply(421, code(4, 4, 0), "Connection error, sorry")
	}
}

// close ends the session (Logout) and the connection, after sending what
// is held back within closeFlush.
func (c *smtpConn) close() {
	c.endBDAT()
	if c.sess != nil {
		c.sess.Logout()
		c.sess = nil
	}
	c.be.end()
	c.wmu.Lock()
	if c.w.Buffered() > 0 && c.werr == nil {
		c.conn.SetWriteDeadline(time.Now().Add(closeFlush))
		c.w.Flush()
	}
	c.wmu.Unlock()
	c.conn.Close()
}

// closeFlush bounds the last write of a closing connection.
const closeFlush = time.Second

// readLine reads one command line within limits.command_timeout, after
// sending the replies held back unless the client has already sent its
// next command (pipelining, RFC 2920: the replies then go out together).
func (c *smtpConn) readLine() (string, error) {
	if !c.lineBuffered() {
		if err := c.flush(); err != nil {
			return "", err
		}
	}
	c.conn.SetReadDeadline(time.Now().Add(c.lim.CommandTimeout.D()))
	limit := c.lim.MaxLineLength
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		if len(line)+len(chunk) > limit {
			return "", smtp.ErrTooLongLine
		}
		line = append(line, chunk...)
		if err == nil {
			return strings.TrimRight(string(line), "\r\n"), nil
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
}

// lineBuffered reports whether a whole command line is already read.
func (c *smtpConn) lineBuffered() bool {
	b, _ := c.r.Peek(c.r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0
}

// noCode marks a reply line without an enhanced status code (greeting,
// 354, 334, EHLO's lines).
var noCode = smtp.NoEnhancedCode

func code(a, b, c int) smtp.EnhancedCode { return smtp.EnhancedCode{a, b, c} }

// reply queues a reply of one or more lines; the enhanced code goes on
// the last line only.
func (c *smtpConn) reply(status int, enh smtp.EnhancedCode, lines ...string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(c.lim.CommandTimeout.D()))
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if i == len(lines)-1 && enh != noCode {
			fmt.Fprintf(c.w, "%d%s%d.%d.%d %s\r\n", status, sep, enh[0], enh[1], enh[2], l)
		} else {
			fmt.Fprintf(c.w, "%d%s%s\r\n", status, sep, l)
		}
	}
	if c.w.Buffered() >= writeBuffer/2 {
		c.flushLocked()
	}
}

// replyErr sends err, an *smtp.SMTPError from the session; anything else
// (which the session never returns) becomes a generic 451.
func (c *smtpConn) replyErr(err error) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		c.reply(se.Code, se.EnhancedCode, se.Message)
		return
	}
	c.srv.log.Error("smtp: unexpected error from session", "err", err)
	c.reply(451, code(4, 3, 0), "Internal error; try again later")
}

func (c *smtpConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *smtpConn) flushLocked() error {
	if c.werr == nil && c.w.Buffered() > 0 {
		c.werr = c.w.Flush()
	}
	return c.werr
}

// protocolError replies and counts the mistake; past errThreshold the
// connection is closed. It reports whether the conversation goes on.
func (c *smtpConn) protocolError(status int, enh smtp.EnhancedCode, msg string) bool {
	c.reply(status, enh, msg)
	if c.errCount++; c.errCount > errThreshold {
		c.reply(500, code(5, 5, 1), "Too many errors. Quiting now")
		return false
	}
	return true
}

// writeNow sends a reply at once from any goroutine (Shutdown, the BDAT
// timer): go-smtp's reply to the command in progress, if any, fails after
// it because the caller closes the connection.
func (c *smtpConn) writeNow(r *smtp.SMTPError) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(closeFlush))
	fmt.Fprintf(c.w, "%d %d.%d.%d %s\r\n", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message)
	c.flushLocked()
}
