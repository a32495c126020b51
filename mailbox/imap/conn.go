package imap

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// conn is mailgate's own IMAP protocol layer for one connection: it
// reads commands (tag, name, arguments, literals), keeps the state
// (not authenticated, authenticated, selected, logout), dispatches each
// command to the session (commands.go) and writes the responses. It
// owns TLS (implicit and STARTTLS), the literal limits and output
// batching, so no other layer can read the client's bytes differently.
type conn struct {
	srv  *Server
	sess *session
	raw  net.Conn // the accepted connection (a *guardConn)
	log  *slog.Logger
	br   *bufio.Reader // reads through c (Read), so output is flushed first

	state connState
	// cur is the command running; refused: it was answered BAD.
	cur     *command
	refused bool
	// enabled holds what ENABLE turned on (IMAP4rev2, UTF8=ACCEPT, ...).
	enabled map[string]bool
	// work is held while a command runs, and by NOTIFY's goroutine while
	// it tells changes between commands (notifycheck.go); notify is the
	// live NOTIFY, or nil.
	work   sync.Mutex
	notify *notifier

	mu      sync.Mutex // guards what follows and serialises all writes
	nc      net.Conn   // raw, or the *tls.Conn over it
	pending []byte     // output not yet sent (see send)
	reading bool       // a read from the client is under way
	isTLS   bool
	// insecureOK: the listener allows LOGIN without TLS and the client
	// is on loopback.
	insecureOK bool
	authed     bool
	closed     bool
}

type connState int

const (
	stateNotAuth connState = iota
	stateAuth
	stateSelected
	stateLogout
)

const (
	// maxLine bounds one command's text (literals aside); no good client
	// comes near it.
	maxLine = 64 << 10
	// maxBufferedLiteral bounds a literal that is not message data
	// (mailbox names, search strings, passwords).
	maxBufferedLiteral = 4096
	// maxPending is how much output waits for the next read before it is
	// sent anyway.
	maxPending = 32 << 10
)

// errClosed ends the command loop: the connection was closed (BYE sent).
var errClosed = errors.New("imap: connection closed by the server")

func newConn(s *Server, sess *session, raw, nc net.Conn, isTLS bool, log *slog.Logger) *conn {
	c := &conn{srv: s, sess: sess, raw: raw, log: log, nc: nc, isTLS: isTLS, enabled: map[string]bool{}}
	c.br = bufio.NewReaderSize(c, 16<<10)
	return c
}

// Read is what c.br reads from: it sends the output held back first,
// since the client waits for it before it sends more.
func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	c.reading = err == nil
	nc := c.nc
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	nc.SetReadDeadline(time.Now().Add(c.srv.opts.IdleTimeout))
	n, err := nc.Read(p)
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
	return n, err
}

// serve runs the connection: greeting, then commands until LOGOUT, an
// error or the close of the connection.
func (c *conn) serve() {
	defer c.sess.Close()
	defer func() {
		c.work.Lock()
		c.stopNotify()
		c.work.Unlock()
	}()
	c.write("* OK [CAPABILITY " + c.capabilities() + "] IMAP server ready")
	for c.state != stateLogout {
		cmd, err := c.readCommand()
		if err != nil {
			c.readFailed(err)
			return
		}
		if cmd == nil {
			continue // an empty line
		}
		c.work.Lock()
		if err = c.checkAccount(); err == nil {
			err = c.dispatch(cmd)
		}
		c.work.Unlock()
		if err != nil {
			if !errors.Is(err, errClosed) && !clientGone(err) {
				c.log.Error("imap command failed", "command", cmd.name, "err", cleanLog(err.Error()))
			}
			return
		}
	}
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
}

// readFailed ends the connection after a command could not be read.
func (c *conn) readFailed(err error) {
	var pe *protoError
	if errors.As(err, &pe) {
		c.closeWith(pe.text)
	}
}

// protoError is a client's mistake that ends the connection, with the
// BYE text that says why.
type protoError struct{ text string }

func (e *protoError) Error() string { return e.text }

// write queues one response line (CRLF added).
func (c *conn) write(line string) error {
	if c.cur != nil && strings.HasPrefix(line, c.cur.tag+" BAD ") {
		c.refused = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(append(c.pending, line...), '\r', '\n')
	return c.sendLocked()
}

// writeBytes queues response bytes written by a response builder.
func (c *conn) writeBytes(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, b...)
	return c.sendLocked()
}

// sendLocked sends the held output when a read is under way (IDLE's
// updates, written while another goroutine waits for DONE) or when
// enough has gathered; else it waits for the next read. c.mu is held.
func (c *conn) sendLocked() error {
	if c.reading || len(c.pending) >= maxPending {
		return c.flushLocked()
	}
	return nil
}

// flushLocked writes the held output; c.mu is held. The deadline bounds
// a client that stopped reading.
func (c *conn) flushLocked() error {
	if len(c.pending) == 0 || c.closed {
		return nil
	}
	c.nc.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	_, err := c.nc.Write(c.pending)
	c.nc.SetWriteDeadline(time.Time{})
	if cap(c.pending) > 2*maxPending {
		c.pending = nil
	} else {
		c.pending = c.pending[:0]
	}
	return err
}

// flush sends the held output now (before a "+" continuation the
// client waits for, and before a long wait such as IDLE).
func (c *conn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// closeWith says * BYE and closes the connection.
func (c *conn) closeWith(text string) error {
	c.srv.metrics.closed.WithLabelValues("protocol").Inc()
	c.log.Info("imap connection closed", "reason", text, "account", c.sess.account)
	c.write("* BYE " + text)
	c.Close()
	return errClosed
}

// bye sends * BYE and closes the connection, for reasons the caller has
// counted itself.
func (c *conn) bye(text string) error {
	c.write("* BYE " + text)
	c.Close()
	return errClosed
}

// Close sends what is held and closes the connection.
func (c *conn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.closed = true
	nc := c.nc
	c.mu.Unlock()
	err := nc.Close()
	c.raw.Close()
	return err
}

func (c *conn) authAllowed() bool { return c.isTLS || c.insecureOK }

// loginTimedOut ends a connection that has not logged in: with * BYE if
// it is waiting for the client (so the line cannot fall inside a
// response), else by closing it. It reports whether it did.
func (c *conn) loginTimedOut(after time.Duration) bool {
	c.mu.Lock()
	if c.authed {
		c.mu.Unlock()
		return false
	}
	if c.reading {
		c.flushLocked()
		c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.nc.Write([]byte("* BYE No login within " + after.String() + "; closing the connection\r\n"))
	}
	c.mu.Unlock()
	// Debug only: a client opening connections in a loop must not
	// write a line each.
	c.log.Debug("imap connection closed: no login in time", "after", after.String())
	c.Close()
	return true
}

// tooLong is the BYE for a command line over maxLine.
func tooLong() *protoError {
	return &protoError{"Command line longer than " + strconv.Itoa(maxLine) + " bytes; closing the connection"}
}
