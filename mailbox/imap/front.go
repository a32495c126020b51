package imap

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// front is the clear-text layer between the connection (the socket, or
// the *tls.Conn we run over it) and imapserver. imapserver beta.8 answers
// any command outside its fixed list with BAD and cannot advertise
// extensions it does not know, so the front answers CAPABILITY, STARTTLS,
// the QUOTA commands and the LOGIN/AUTHENTICATE refusals before TLS
// itself, rewrites the capability lists imapserver writes, and hands
// every other byte on unchanged.
//
// Order: a command the front answers must be answered after imapserver
// has finished every command before it. imapserver reads through a
// bufio.Reader, which calls Read only once it has used every byte handed
// to it, that is after the previous command is done. So Read hands on
// the bytes before such a command, and answers it on the next call.
// Commands that change what the front must know (LOGIN, AUTHENTICATE,
// IDLE, a synchronising literal) are handed on alone in the same way, so
// that the server's output the front watches for them is theirs only.
type front struct {
	srv  *Server
	sess *session
	raw  net.Conn // the accepted connection (a *guardConn)
	log  *slog.Logger

	// Read side: only imapserver's connection goroutine uses these.
	buf   []byte // read from the client; buf[off:] not yet handed on
	off   int
	ready int // bytes at buf[off:] already judged imapserver's
	// readTimeout is how long imapserver last said to wait for the
	// client; the front re-arms it after each command it answers, since
	// imapserver does not see those.
	readTimeout time.Duration
	// readErr sticks: imapserver may read again after an error, and
	// what is still buffered must not run once the front has given up.
	readErr error

	mu      sync.Mutex // guards what follows and serialises all writes
	conn    net.Conn   // raw, or the *tls.Conn over it
	pending []byte     // server output not yet sent (see Write)
	reading bool       // a read from the client is under way
	isTLS   bool
	// insecureOK: the listener allows LOGIN without TLS and the client
	// is on loopback.
	insecureOK bool
	authed     bool
	greeting   bool     // the first line imapserver writes is the greeting
	cmd        inflight // LOGIN, AUTHENTICATE or IDLE handed on, not yet answered
	contLines  int      // lines the client may send in reply to a "+" (IDLE's DONE, SASL)
	curTag     string   // tag of the command whose lines are being read
	inCommand  bool     // the next line continues a command after a literal
	literal    int64    // literal bytes still to hand on without looking
	awaitCont  bool     // a synchronising literal waits for the server's "+" or refusal
	litSize    int64
	eline      []byte // server output held until its line is complete (while watching)
	// mistake replaces imapserver's next "NO [SERVERBUG]" answer: the
	// error it answers so was the client's (clienterr.go).
	mistake string
	// refused: the last command imapserver finished was such a mistake.
	refused bool
}

// inflight is a command whose answer the front watches for.
type inflight struct {
	tag   string
	login bool // LOGIN or AUTHENTICATE: a tagged OK carries the capabilities
	cont  bool // the server's "+" lets the client send one line that is not a command
}

const (
	// maxLine bounds one command line; imapserver refuses commands over
	// 50 KiB (literals aside), so no good client comes near it.
	maxLine = 64 << 10
	// maxHeldOutput is how much server output may wait for its line end
	// while the front watches (imapserver flushes at each line end).
	maxHeldOutput = 16 << 10
)

var errFrontClosed = errors.New("imap: connection closed by the front")

func newFront(s *Server, sess *session, raw, conn net.Conn, isTLS bool, log *slog.Logger) *front {
	return &front{srv: s, sess: sess, raw: raw, log: log, conn: conn, isTLS: isTLS, greeting: true}
}

// Read hands imapserver the client's bytes, up to the next command the
// front must see alone; that command is dealt with at the next call.
func (f *front) Read(p []byte) (int, error) {
	if f.readErr != nil {
		return 0, f.readErr
	}
	n, err := f.read(p)
	if err != nil && n == 0 {
		f.readErr = err
	}
	return n, err
}

func (f *front) read(p []byte) (int, error) {
	for {
		if f.ready > 0 {
			n := copy(p, f.buf[f.off:f.off+f.ready])
			f.off += n
			f.ready -= n
			return n, nil
		}
		if f.off == len(f.buf) {
			f.buf, f.off = f.buf[:0], 0
			if cap(f.buf) > 8<<10 {
				f.buf = nil // a long line is over: do not keep its buffer for the session
			}
			if left := f.literalLeft(); left > 0 { // a big APPEND goes straight through
				n, err := f.recv(p[:min(int64(len(p)), left)])
				f.tookLiteral(n)
				return n, err
			}
			if err := f.fill(); err != nil {
				return 0, err
			}
		}
		if err := f.classify(); err != nil {
			return 0, err
		}
	}
}

// classify judges the bytes at buf[off:]: it sets ready to the bytes
// imapserver may have now, or answers a command of the front's that
// comes first. It is called with ready == 0, so imapserver has caught up.
func (f *front) classify() error {
	pos := f.off
	defer func() { f.ready = max(pos-f.off, 0) }()
	for pos < len(f.buf) {
		if n := f.takeLiteral(len(f.buf) - pos); n > 0 {
			pos += n
			continue
		}
		end := bytes.IndexByte(f.buf[pos:], '\n')
		if end < 0 {
			if pos > f.off {
				return nil // hand on what is complete first
			}
			var err error
			if end, err = f.lineEnd(); err != nil {
				return err
			}
			pos = f.off
		} else {
			end += pos + 1
		}
		line := f.buf[pos:end]
		if hasBareCR(line) {
			if pos > f.off {
				return nil
			}
			return f.closeWith("Bare CR in a command line; end lines with CRLF")
		}
		kind, cmd := f.judge(line, pos == f.off)
		if kind != linePlain && pos > f.off {
			return nil // imapserver catches up first
		}
		if kind == lineOpenQuote {
			if err := f.refuseOpenQuote(end); err != nil {
				return err
			}
			pos = f.off
			continue
		}
		if kind == lineOwn {
			if err := f.answer(); err != nil {
				return err
			}
			f.rearm()
			pos = f.off
			continue
		}
		pos = end
		if f.took(line, cmd) {
			return nil // a synchronising literal: the client waits for "+"
		}
	}
	return nil
}

type lineKind int

const (
	linePlain lineKind = iota // goes on with its neighbours
	lineAlone                 // goes on alone, once imapserver has caught up
	lineOwn                   // answered by the front
	// lineOpenQuote has a quoted string not closed by the end of the
	// line. imapserver's decoder would read on across the line end (RFC
	// 9051 allows no CR or LF in a quoted string) and take the next
	// commands, LOGOUT included, for the string's text: the session hung
	// until the idle timeout (found by FuzzIMAPSession), and the front,
	// which judges lines, would no longer agree with imapserver on where
	// commands begin.
	lineOpenQuote
)

// judge tells what to do with a complete line at the current position;
// caughtUp says imapserver has used every byte before it.
func (f *front) judge(line []byte, caughtUp bool) (lineKind, inflight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contLines > 0 {
		return linePlain, inflight{}
	}
	text := trimEOL(line)
	if openQuote(text) {
		return lineOpenQuote, inflight{}
	}
	_, _, nonSync, isLit := literalMarker(text)
	if f.inCommand {
		if isLit && !nonSync {
			// Alone, so that the server's next output is its verdict on
			// this literal (the literal guard reads it so too).
			return lineAlone, inflight{}
		}
		return linePlain, inflight{}
	}
	if f.cmd.tag != "" {
		// A command that may change the state (a login) is running: the
		// next one waits for its end. If imapserver asks for more while
		// it runs, the line is that command's to read.
		if caughtUp {
			return linePlain, inflight{}
		}
		return lineAlone, inflight{}
	}
	tag, name, _ := commandWords(text)
	kind := linePlain
	if isLit && !nonSync {
		kind = lineAlone
	}
	if caughtUp {
		// imapserver has finished every command before this one.
		f.sess.lsub = name == "LSUB"
	}
	switch name {
	case "CAPABILITY", "STARTTLS", "ID":
		return lineOwn, inflight{}
	case "LOGIN", "AUTHENTICATE":
		if f.authed {
			break
		}
		if !f.authAllowed() {
			return lineOwn, inflight{}
		}
		return lineAlone, inflight{tag: tag, login: true, cont: name == "AUTHENTICATE"}
	case "IDLE":
		return lineAlone, inflight{tag: tag, cont: true}
	case "LSUB":
		// Alone, and nothing after it until its tagged reply: the session
		// reads the lsub mark set above while imapserver runs it (list.go).
		return lineAlone, inflight{tag: tag}
	case "SORT", "THREAD":
		if f.authed {
			return lineOwn, inflight{}
		}
	case "UID":
		if sub := uidCommand(text); f.authed && (sub == "SORT" || sub == "THREAD") {
			return lineOwn, inflight{}
		}
	case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA":
		if f.authed {
			return lineOwn, inflight{} // before login imapserver says BYE, as for any unknown command
		}
	}
	return kind, inflight{}
}

// refuseOpenQuote answers a line whose quoted string is not closed (see
// lineOpenQuote) that ends at end: a command's first line gets BAD and is
// dropped; a later line of a command imapserver already has ends the
// connection, as nothing else keeps both in step.
func (f *front) refuseOpenQuote(end int) error {
	f.mu.Lock()
	mid := f.inCommand
	f.mu.Unlock()
	if mid {
		return f.closeWith("Quoted string not closed at the end of the line; closing the connection")
	}
	tag, _, _ := commandWords(trimEOL(f.buf[f.off:end]))
	f.off = end
	if tag == "" {
		tag = "*"
	}
	err := f.reply(tag + " BAD Quoted string not closed at the end of the line; close it with \" or send the text as a literal")
	f.rearm()
	return err
}

// openQuote reports whether text (one line, without its CRLF) leaves a
// quoted string open. Outside quotes a backslash is an ordinary
// character (\Seen); inside, it escapes the next one.
func openQuote(text []byte) bool {
	in := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case !in:
			in = c == '"'
		case c == '\\':
			i++
		case c == '"':
			in = false
		}
	}
	return in
}

func (f *front) authAllowed() bool { return f.isTLS || f.insecureOK }

// took records a line handed on to imapserver; true when it ends with a
// synchronising literal, after which the client sends nothing until the
// server's verdict.
func (f *front) took(line []byte, cmd inflight) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contLines > 0 && !f.inCommand {
		f.contLines--
		return false
	}
	text := trimEOL(line)
	if !f.inCommand {
		f.refused = false
		f.curTag, _, _ = commandWords(text)
		if cmd.tag != "" {
			f.cmd = cmd
		}
	}
	_, size, nonSync, ok := literalMarker(text)
	f.inCommand = ok
	if !ok {
		return false
	}
	if nonSync {
		f.literal = size
		return false
	}
	f.awaitCont, f.litSize = true, size
	return true
}

func (f *front) literalLeft() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.literal
}

func (f *front) tookLiteral(n int) {
	f.mu.Lock()
	f.literal -= int64(n)
	f.mu.Unlock()
}

// takeLiteral counts up to avail buffered bytes as literal data.
func (f *front) takeLiteral(avail int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := int(min(f.literal, int64(avail)))
	f.literal -= int64(n)
	return n
}

// fill reads more from the client. Only called with ready == 0.
func (f *front) fill() error {
	if f.off > 0 {
		f.buf = f.buf[:copy(f.buf, f.buf[f.off:])]
		f.off = 0
	}
	if len(f.buf) == cap(f.buf) {
		grown := make([]byte, len(f.buf), max(4096, 2*cap(f.buf)))
		copy(grown, f.buf)
		f.buf = grown
	}
	n, err := f.recv(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if n > 0 {
		return nil
	}
	return err
}

// lineEnd reads until buf[off:] holds a complete line and returns the
// index after its LF.
func (f *front) lineEnd() (int, error) {
	for {
		if i := bytes.IndexByte(f.buf[f.off:], '\n'); i >= 0 {
			return f.off + i + 1, nil
		}
		if len(f.buf)-f.off >= maxLine {
			return 0, f.closeWith("Command line longer than " + strconv.Itoa(maxLine) + " bytes; closing the connection")
		}
		if err := f.fill(); err != nil {
			return 0, err
		}
	}
}

// closeWith says * BYE and closes the connection.
func (f *front) closeWith(text string) error {
	f.srv.metrics.closed.WithLabelValues("protocol").Inc()
	f.log.Info("imap connection closed", "reason", text, "account", f.sess.account)
	f.reply("* BYE " + text)
	f.Close()
	return errFrontClosed
}

func (f *front) Close() error {
	f.mu.Lock()
	f.flushLocked() // imapserver's last words (BYE, LOGOUT's OK)
	c := f.conn
	f.mu.Unlock()
	err := c.Close()
	f.raw.Close()
	return err
}

func (f *front) LocalAddr() net.Addr  { return f.raw.LocalAddr() }
func (f *front) RemoteAddr() net.Addr { return f.raw.RemoteAddr() }

func (f *front) SetDeadline(t time.Time) error {
	f.noteTimeout(t)
	return f.current().SetDeadline(t)
}

func (f *front) SetReadDeadline(t time.Time) error {
	f.noteTimeout(t)
	return f.current().SetReadDeadline(t)
}

func (f *front) noteTimeout(t time.Time) {
	f.readTimeout = 0
	if !t.IsZero() {
		f.readTimeout = time.Until(t)
	}
}

// rearm restarts the wait for the client's next command.
func (f *front) rearm() error {
	t := time.Time{}
	if f.readTimeout > 0 {
		t = time.Now().Add(f.readTimeout)
	}
	return f.current().SetReadDeadline(t)
}

func (f *front) SetWriteDeadline(t time.Time) error { return f.current().SetWriteDeadline(t) }

func (f *front) current() net.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conn
}

// commandWords splits "tag NAME rest" at its first two spaces, as
// imapserver does; the name is upper-cased.
func commandWords(text []byte) (tag, name string, rest []byte) {
	sp := bytes.IndexByte(text, ' ')
	if sp < 0 {
		return string(text), "", nil
	}
	tag, text = string(text[:sp]), text[sp+1:]
	if sp = bytes.IndexByte(text, ' '); sp >= 0 {
		return tag, strings.ToUpper(string(text[:sp])), text[sp:]
	}
	return tag, strings.ToUpper(string(text)), nil
}

// uidCommand returns the command after UID ("SORT" in "a UID SORT ...").
func uidCommand(text []byte) string {
	_, _, rest := commandWords(text)
	rest = bytes.TrimLeft(rest, " ")
	if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
		rest = rest[:sp]
	}
	return strings.ToUpper(string(rest))
}

// literalMarker parses "{123}" or "{123+}" at the end of a line (start
// is the index of '{'). A number too big to parse counts as huge.
func literalMarker(text []byte) (start int, size int64, nonSync, ok bool) {
	if len(text) < 3 || text[len(text)-1] != '}' {
		return 0, 0, false, false
	}
	start = bytes.LastIndexByte(text, '{')
	if start < 0 {
		return 0, 0, false, false
	}
	num := text[start+1 : len(text)-1]
	if n := len(num); n > 0 && num[n-1] == '+' {
		nonSync, num = true, num[:n-1]
	}
	if len(num) == 0 {
		return 0, 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, 0, false, false
		}
	}
	size, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		size = 1 << 62
	}
	return start, size, nonSync, true
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// hasBareCR reports a CR that does not end the line. imapserver's
// decoder may take one for a line end when it skips a bad command, so
// the front and imapserver would split the stream differently.
func hasBareCR(line []byte) bool {
	i := bytes.IndexByte(line, '\r')
	return i >= 0 && i != len(line)-2
}

func tagged(line []byte, tag string) bool {
	return tag != "" && len(line) > len(tag) && line[len(tag)] == ' ' && string(line[:len(tag)]) == tag
}
