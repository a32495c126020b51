package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"time"

	"mailgate/internal/smtpdata"
)

// Limits and timeouts of the sink's SMTP server.
const (
	sinkMaxMessage = 64 << 20
	sinkMaxRcpts   = 1000
	sinkReadLimit  = 5 * time.Minute // per read
	sinkWriteLimit = time.Minute     // per write
)

// sinkEHLO is the capability list. No CHUNKING, STARTTLS or DSN: the sink
// takes plain DATA on loopback and nothing else.
const sinkEHLO = "250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 67108864\r\n" +
	"250-ENHANCEDSTATUSCODES\r\n250 SMTPUTF8\r\n"

// Replies of the sink, each naming what to do instead when it refuses.
const (
	replyGreeting  = "220 sink.localhost ESMTP\r\n"
	replyHelo      = "250 sink.localhost\r\n"
	replyOK        = "250 2.0.0 OK\r\n"
	replyMail      = "250 2.1.0 sender OK\r\n"
	replyRcpt      = "250 2.1.5 recipient OK\r\n"
	replyData      = "354 send the message, end it with <CRLF>.<CRLF>\r\n"
	replyAccepted  = "250 2.0.0 message accepted\r\n"
	replyBye       = "221 2.0.0 bye\r\n"
	replyNoHello   = "503 5.5.1 send EHLO or HELO first\r\n"
	replyNested    = "503 5.5.1 a transaction is open: send RSET before a new MAIL\r\n"
	replyNoMail    = "503 5.5.1 send MAIL FROM first\r\n"
	replyNoRcpt    = "503 5.5.1 send RCPT TO first\r\n"
	replyMailArg   = "501 5.5.4 syntax: MAIL FROM:<address>\r\n"
	replyRcptArg   = "501 5.5.4 syntax: RCPT TO:<address>\r\n"
	replyHeloArg   = "501 5.5.4 syntax: EHLO domain\r\n"
	replyTooMany   = "452 4.5.3 too many recipients: 1000 per message at most\r\n"
	replyTooBig    = "552 5.3.4 message larger than 64 MiB\r\n"
	replyLongLine  = "500 5.5.2 command line too long\r\n"
	replyUnknown   = "502 5.5.1 command not implemented: the sink knows EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT\r\n"
	replyStopped   = "421 4.3.2 the sink has stopped taking messages\r\n"
	replyNotSaved  = "451 4.3.0 sink cannot save the message\r\n"
	replyBadSyntax = "500 5.5.2 empty or unreadable command\r\n"
)

// sinkConn is one SMTP connection's state; its buffers are pooled and
// reused across connections.
type sinkConn struct {
	s       *Sink
	r       *bufio.Reader
	w       *bufio.Writer
	scratch []byte // content read only to be counted
	msg     []byte // content kept to save or verify
	hello   bool
	mail    bool
	rcpts   int
}

// timedConn sets the deadline of every read and write, so that each
// operation gets its own time, as go-smtp's server did.
type timedConn struct{ net.Conn }

func (c timedConn) Read(p []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(sinkReadLimit))
	return c.Conn.Read(p)
}

func (c timedConn) Write(p []byte) (int, error) {
	c.SetWriteDeadline(time.Now().Add(sinkWriteLimit))
	return c.Conn.Write(p)
}

// serve accepts connections until the listener is closed.
func (s *Sink) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.connMu.Lock()
		if s.closing.Load() {
			s.connMu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.connMu.Unlock()
		go s.handle(c)
	}
}

func (s *Sink) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
	}()
	sc, _ := s.pool.Get().(*sinkConn)
	if sc == nil {
		sc = &sinkConn{r: bufio.NewReaderSize(nil, 64<<10), w: bufio.NewWriterSize(nil, 4<<10),
			scratch: make([]byte, 32<<10)}
	}
	tc := timedConn{c}
	*sc = sinkConn{s: s, r: sc.r, w: sc.w, scratch: sc.scratch, msg: sc.msg[:0]}
	sc.r.Reset(tc)
	sc.w.Reset(tc)
	sc.run()
	sc.r.Reset(nil)
	sc.w.Reset(nil)
	if cap(sc.msg) > 1<<20 {
		sc.msg = nil // keep one large message from pinning memory
	}
	s.pool.Put(sc)
}

// run speaks SMTP until QUIT, an error or the sink's stop. Replies are
// buffered and flushed only when no pipelined command is waiting.
func (sc *sinkConn) run() {
	sc.w.WriteString(replyGreeting)
	for {
		if sc.r.Buffered() == 0 && sc.w.Flush() != nil {
			return
		}
		line, err := sc.readLine()
		if err == bufio.ErrBufferFull {
			sc.w.WriteString(replyLongLine)
			continue
		}
		if err != nil {
			return
		}
		if !sc.command(line) {
			sc.w.Flush()
			return
		}
	}
}

// readLine returns the next command line without its line end. A line
// longer than the buffer is read to its end and reported as
// bufio.ErrBufferFull.
func (sc *sinkConn) readLine() ([]byte, error) {
	line, err := sc.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = sc.r.ReadSlice('\n')
		}
		if err == nil {
			err = bufio.ErrBufferFull
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimRight(line, "\r\n")
	return line, nil
}

// command answers one command line and reports whether to go on.
func (sc *sinkConn) command(line []byte) bool {
	verb, arg := line, []byte(nil)
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		verb, arg = line[:i], bytes.TrimSpace(line[i+1:])
	}
	switch {
	case isVerb(verb, "EHLO"), isVerb(verb, "HELO"):
		if len(arg) == 0 {
			sc.w.WriteString(replyHeloArg)
			return true
		}
		sc.hello, sc.mail, sc.rcpts = true, false, 0
		if isVerb(verb, "EHLO") {
			sc.w.WriteString(sinkEHLO)
		} else {
			sc.w.WriteString(replyHelo)
		}
	case isVerb(verb, "MAIL"):
		return sc.mailFrom(arg)
	case isVerb(verb, "RCPT"):
		sc.rcptTo(arg)
	case isVerb(verb, "DATA"):
		return sc.data()
	case isVerb(verb, "RSET"):
		sc.mail, sc.rcpts = false, 0
		sc.w.WriteString(replyOK)
	case isVerb(verb, "NOOP"):
		sc.w.WriteString(replyOK)
	case isVerb(verb, "QUIT"):
		sc.w.WriteString(replyBye)
		return false
	case len(verb) == 0:
		sc.w.WriteString(replyBadSyntax)
	default:
		sc.w.WriteString(replyUnknown)
	}
	return true
}

func (sc *sinkConn) mailFrom(arg []byte) bool {
	switch {
	case !sc.hello:
		sc.w.WriteString(replyNoHello)
	case sc.mail:
		sc.w.WriteString(replyNested)
	case !hasPrefixFold(arg, "FROM:"):
		sc.w.WriteString(replyMailArg)
	case sc.s.closing.Load():
		sc.w.WriteString(replyStopped)
		return false
	default:
		sc.mail, sc.rcpts = true, 0
		sc.w.WriteString(replyMail)
	}
	return true
}

func (sc *sinkConn) rcptTo(arg []byte) {
	switch {
	case !sc.mail:
		sc.w.WriteString(replyNoMail)
	case !hasPrefixFold(arg, "TO:"):
		sc.w.WriteString(replyRcptArg)
	case sc.rcpts >= sinkMaxRcpts:
		sc.w.WriteString(replyTooMany)
	default:
		sc.rcpts++
		sc.w.WriteString(replyRcpt)
	}
}

// data reads one message after 354 and answers it; false ends the
// connection (a read error, or the sink has stopped).
func (sc *sinkConn) data() bool {
	if sc.rcpts == 0 {
		if sc.mail {
			sc.w.WriteString(replyNoRcpt)
		} else {
			sc.w.WriteString(replyNoMail)
		}
		return true
	}
	sc.mail, sc.rcpts = false, 0
	sc.w.WriteString(replyData)
	if sc.w.Flush() != nil {
		return false
	}
	d := &smtpdata.Reader{R: sc.r, Limit: sinkMaxMessage}
	keep := sc.s.o.SaveDir != "" || sc.s.o.LookupTXT != nil
	n, err := sc.readContent(d, keep)
	if err == smtpdata.ErrTooLarge {
		if d.Drain() != nil {
			return false
		}
		sc.w.WriteString(replyTooBig)
		return sc.w.Flush() == nil
	}
	if err != nil {
		return false
	}
	reply, goOn := sc.accept(n)
	sc.w.WriteString(reply)
	return sc.w.Flush() == nil && goOn
}

// readContent reads the content to its end line, into sc.msg when keep is
// set, else only counting it.
func (sc *sinkConn) readContent(d *smtpdata.Reader, keep bool) (int64, error) {
	var n int64
	sc.msg = sc.msg[:0]
	for {
		buf := sc.scratch
		if keep {
			sc.msg = slices.Grow(sc.msg, 32<<10)
			buf = sc.msg[len(sc.msg):cap(sc.msg)]
		}
		k, err := d.Read(buf)
		n += int64(k)
		if keep {
			sc.msg = sc.msg[:len(sc.msg)+k]
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// accept saves and counts a message that was read whole, and returns the
// reply and whether the connection goes on.
func (sc *sinkConn) accept(n int64) (string, bool) {
	s := sc.s
	if s.o.MaxMessages > 0 && s.count.Load() >= s.o.MaxMessages {
		return replyStopped, false
	}
	if err := s.save(sc.msg, s.count.Load()); err != nil {
		return replyNotSaved, true
	}
	if !s.record(sc.msg, n) {
		return replyStopped, false
	}
	return replyAccepted, true
}

func isVerb(verb []byte, name string) bool { return len(verb) == 4 && hasPrefixFold(verb, name) }

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}
