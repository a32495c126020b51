package relay

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtpdata"
)

// frontConn is the connection under go-smtp (under TLS, when there is
// TLS). It does two things go-smtp does not.
//
// It holds go-smtp's output until go-smtp reads again (or the connection
// closes), then writes it at once: go-smtp flushes every line of a
// multi-line reply on its own, so an EHLO reply was ten writes and ten
// TCP segments, and writeResponse was a fifth of the CPU at 4 KB per
// message. A server writes nothing unasked, so whatever it wrote is
// complete once it waits for input; the replies to pipelined commands go
// out together, as RFC 2920 intends.
//
// And it lets the session read DATA content itself, in bulk
// (internal/smtpdata), instead of through go-smtp's reader, which hands
// over one byte per call (a fifth of the CPU at 100 KB per message).
//
// That is safe only while go-smtp has buffered nothing after the DATA
// command line, so the front never returns bytes past the end of a line
// that starts with "DATA": the read after it must come from the session
// (content) or from go-smtp (after a refused DATA, its next command).
// Once the session has read the content, the front gives go-smtp a bare
// end-of-data line, so go-smtp's own reader ends at once and the
// conversation goes on as before. After STARTTLS go-smtp reads TLS
// records through the front; the session then leaves DATA to go-smtp.
type frontConn struct {
	net.Conn

	// Used by the connection's goroutine only.
	paused  bool   // the last Read ended with a DATA command line
	pending []byte // bytes read from Conn but not yet returned
	feed    []byte // the end line for go-smtp's reader, before anything else
	err     error  // every later Read fails with it (the session gave up)
	line    lineScan

	wmu  sync.Mutex // Shutdown writes its 421 from another goroutine
	out  []byte     // output held until the next read
	werr error      // a failed write fails every later one
}

// maxHeld is the most output held back; more is written at once.
const maxHeld = 64 << 10

func (f *frontConn) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.werr != nil {
		return 0, f.werr
	}
	f.out = append(f.out, p...)
	if len(f.out) >= maxHeld {
		if err := f.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes the output held back.
func (f *frontConn) flush() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.flushLocked()
}

func (f *frontConn) flushLocked() error {
	if f.werr != nil || len(f.out) == 0 {
		return f.werr
	}
	_, f.werr = f.Conn.Write(f.out)
	f.out = f.out[:0]
	if cap(f.out) > 4<<10 {
		f.out = nil // an idle connection keeps no large buffer
	}
	return f.werr
}

// Close sends what is held back (the last reply, a TLS close alert)
// first, within closeFlush: crypto/tls sets the write deadline to now
// once its close alert is written, which would drop both.
func (f *frontConn) Close() error {
	f.wmu.Lock()
	if len(f.out) > 0 && f.werr == nil {
		f.Conn.SetWriteDeadline(time.Now().Add(closeFlush))
		f.flushLocked()
	}
	f.wmu.Unlock()
	return f.Conn.Close()
}

// closeFlush bounds the last write of a closing connection.
const closeFlush = time.Second

// frontListener puts a frontConn under every accepted connection.
type frontListener struct{ net.Listener }

func (l frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newFrontConn(c), nil
}

// frontOf returns the frontConn under c, if any.
func frontOf(c net.Conn) *frontConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	f, _ := c.(*frontConn)
	return f
}

func newFrontConn(c net.Conn) *frontConn {
	return &frontConn{Conn: c, line: lineScan{start: true}}
}

// endOfData is what go-smtp's reader reads after the session read the
// content: the end line alone, so its content is empty.
var endOfData = []byte(".\r\n")

func (f *frontConn) Read(p []byte) (int, error) {
	f.paused = false
	if len(f.feed) > 0 {
		n := copy(p, f.feed)
		f.feed = f.feed[n:]
		return n, nil
	}
	if f.err != nil {
		return 0, f.err
	}
	if err := f.flush(); err != nil {
		return 0, err
	}
	var n int
	if len(f.pending) > 0 {
		n = copy(p, f.pending)
		f.pending = f.pending[n:]
	} else {
		var err error
		if n, err = f.Conn.Read(p); n == 0 {
			return 0, err
		}
	}
	cut, data := f.line.cut(p[:n])
	if cut < n {
		f.pending = append(append([]byte(nil), p[cut:n]...), f.pending...)
	}
	f.paused = data
	return cut, nil
}

// lineScan finds the end of a command line that starts with "DATA" (any
// case, anything after it: go-smtp reads "DATA", "data" and "DATA x" as
// the DATA command) across reads.
type lineScan struct {
	start bool    // at the start of a line
	head  [4]byte // the first bytes of the current line
	nhead int
}

// cut returns how many bytes of b to return: all of them, or up to and
// including the LF that ends a DATA line (then data is true).
func (s *lineScan) cut(b []byte) (n int, data bool) {
	i := 0
	for i < len(b) {
		if s.start {
			s.start, s.nhead = false, 0
		}
		for s.nhead < len(s.head) && i < len(b) && b[i] != '\n' {
			s.head[s.nhead] = b[i]
			s.nhead++
			i++
		}
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			return len(b), false
		}
		i += k + 1
		s.start = true
		if s.nhead == len(s.head) && bytes.EqualFold(s.head[:], []byte("DATA")) {
			return i, true
		}
	}
	return len(b), false
}

// dataBuffers hold the bulk reads of message content; a connection holds
// one only while it reads a message, so idle connections cost nothing.
var dataBuffers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// dataLimits are what the session applies to content it reads itself:
// those go-smtp applies to content it reads.
type dataLimits struct {
	size  int64
	line  int
	until time.Time // the whole content must have arrived by then
	tap   func([]byte)
	dir   string // where a large message spills (readContent)
}

// readContent reads one message's content straight from the connection.
// It may be called only from Session.Data of a DATA command (not BDAT)
// and only when claimed: after it, go-smtp's own reader sees an empty
// message. On an error other than ErrTooLarge the connection is poisoned:
// go-smtp's next read fails with ErrTooLongLine for a long line (it then
// closes the session with its usual reply) or EOF otherwise.
func (f *frontConn) readContent(lim dataLimits) (content, error) {
	br := dataBuffers.Get().(*bufio.Reader)
	br.Reset(&deadlineSource{f: f, until: lim.until})
	defer func() {
		f.pending = append(peekAll(br), f.pending...)
		br.Reset(nil)
		dataBuffers.Put(br)
		f.Conn.SetReadDeadline(time.Time{})
	}()
	d := &smtpdata.Reader{R: br, Limit: lim.size, LineLimit: lim.line, Tap: lim.tap}
	c, err := readContent(d, lim.dir)
	if err == smtpdata.ErrTooLarge {
		if derr := d.Drain(); derr != nil {
			err = derr
		}
	}
	switch err {
	case nil, smtpdata.ErrTooLarge:
		f.feed = endOfData
	case smtpdata.ErrLineTooLong:
		f.err = errTooLongLine
	default:
		f.err = errFrontClosed
	}
	return c, err
}

// claim reports whether go-smtp has nothing buffered past the DATA line
// it just read, so the session may read the content itself; only the
// connection's goroutine may ask.
func (f *frontConn) claim() bool {
	ok := f.paused
	f.paused = false
	return ok
}

// Errors that end a session whose content the session read itself.
// go-smtp closes the connection on either, after its reply to DATA; for a
// long line it first says "500 5.4.0 Too long line, closing connection",
// as when its own reader meets one.
var (
	errTooLongLine = smtp.ErrTooLongLine
	errFrontClosed = io.EOF
)

func peekAll(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return append([]byte(nil), b...)
}

// deadlineSource is what the bulk reader reads: first the bytes the front
// held back, then the connection, all of it by until (limits.data_timeout
// bounds the whole DATA, so a client sending a byte now and then cannot
// hold a session and its buffers for ever).
type deadlineSource struct {
	f     *frontConn
	until time.Time
	set   bool
}

func (s *deadlineSource) Read(p []byte) (int, error) {
	if len(s.f.pending) > 0 {
		n := copy(p, s.f.pending)
		s.f.pending = s.f.pending[n:]
		return n, nil
	}
	if err := s.f.flush(); err != nil { // the 354
		return 0, err
	}
	if !s.set {
		s.f.Conn.SetReadDeadline(s.until)
		s.set = true
	}
	return s.f.Conn.Read(p)
}
