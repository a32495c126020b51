package loadgen

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"mailgate/internal/smtpdata"
)

// SendOptions describe one SMTP load run.
type SendOptions struct {
	Addr        string        // loopback host:port of the server under test
	N           int           // messages to send
	Size        int           // approximate message size in bytes
	Concurrency int           // connections working at once
	Reuse       bool          // keep a connection for many messages
	TLS         string        // "", "starttls" or "implicit"
	User        string        // AUTH PLAIN when not empty
	Password    string        //
	From        string        // envelope and header sender
	To          []string      // recipients of every message
	MaxDuration time.Duration // stop sending after this long (0: 10m)
	Progress    io.Writer     // live status line (a terminal), or nil

	// body, when set, is sent instead of messageBody(Size): a test hook.
	// Lines end in CRLF.
	body []byte
}

// Send runs the load and reports it. Latency is that of the whole
// transaction as a client sees it: from connecting (or, on a reused
// connection, from MAIL FROM) to the reply after the data.
func Send(o SendOptions) (Result, error) {
	if err := checkLoopback(o.Addr); err != nil {
		return Result{}, err
	}
	if o.N <= 0 || o.Concurrency <= 0 || len(o.To) == 0 || o.From == "" {
		return Result{}, errors.New("send: need N > 0, concurrency > 0, a sender and a recipient")
	}
	if o.TLS != "" && o.TLS != "starttls" && o.TLS != "implicit" {
		return Result{}, fmt.Errorf("send: tls %q: use none, starttls or implicit", o.TLS)
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 10 * time.Minute
	}
	rec := newRecorder()
	body := o.body
	if body == nil {
		body = messageBody(o.Size)
	}
	stuffed := smtpdata.AppendStuffed(nil, body) // once per run
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(o.MaxDuration)
	stop := make(chan struct{})
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() { defer pwg.Done(); progress(o.Progress, int64(o.N), rec, start, stop) }()
	var wg sync.WaitGroup
	for w := 0; w < min(o.Concurrency, o.N); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{o: &o, stuffed: stuffed, rec: rec}
			defer s.close()
			for {
				i := next.Add(1) - 1
				if i >= int64(o.N) || time.Now().After(deadline) {
					return
				}
				s.one(i)
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	close(stop)
	pwg.Wait()
	return rec.result("transaction", start, end), nil
}

// sender is one worker's connection state.
type sender struct {
	o       *SendOptions
	stuffed []byte // the body, dot-stuffed, with the end line
	rec     *recorder
	c       *smtpClient
	msg     []byte // header + stuffed body of the current message
}

func (s *sender) one(i int64) {
	t0 := time.Now()
	if s.c == nil {
		c, err := dialSMTP(s.o)
		if err != nil {
			s.rec.failure(errorCode(err))
			return
		}
		s.c = c
	}
	if err := s.transaction(i); err != nil {
		s.rec.failure(errorCode(err))
		s.close()
		return
	}
	d := time.Since(t0)
	if !s.o.Reuse {
		s.c.quit()
		s.close()
	}
	s.rec.success("transaction", d)
}

// transaction is MAIL, RCPT per recipient, DATA and the content, one
// round trip each, as go-smtp's client did.
func (s *sender) transaction(i int64) error {
	if err := s.c.mail(s.o.From); err != nil {
		return err
	}
	for _, to := range s.o.To {
		if err := s.c.cmd(commandTimeout, 25, "RCPT TO:<", to, ">"); err != nil {
			return err
		}
	}
	if err := s.c.cmd(commandTimeout, 354, "DATA"); err != nil {
		return err
	}
	s.msg = s.appendHeader(s.msg[:0], i)
	s.msg = append(s.msg, s.stuffed...)
	return s.c.content(s.msg)
}

// appendHeader appends the header of message i, the same as go-smtp's
// loadgen wrote: From, To, Subject with the index, Message-ID and Date.
func (s *sender) appendHeader(b []byte, i int64) []byte {
	now := time.Now()
	b = append(b, "From: <"...)
	b = append(b, s.o.From...)
	b = append(b, ">\r\nTo: <"...)
	b = append(b, s.o.To[0]...)
	b = append(b, ">\r\nSubject: loadgen message "...)
	b = strconv.AppendInt(b, i, 10)
	b = append(b, "\r\nMessage-ID: <"...)
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, i, 10)
	b = append(b, "@loadgen.localhost>\r\nDate: "...)
	b = now.AppendFormat(b, time.RFC1123Z)
	return append(b, "\r\n\r\n"...)
}

func (s *sender) close() {
	if s.c != nil {
		s.c.close()
		s.c = nil
	}
}

// messageBody makes size bytes (less about 200 for the header) of
// 76-character lines.
func messageBody(size int) []byte {
	n := max(size-200, 80)
	line := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 loadgen bench\r\n")
	var b bytes.Buffer
	for b.Len() < n {
		b.Write(line)
	}
	return b.Bytes()
}

// errorCode names an error for the tally: the SMTP reply code, or the kind
// of failure when there was no reply.
func errorCode(err error) string {
	var re *replyError
	if errors.As(err, &re) {
		return strconv.Itoa(re.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var te tls.RecordHeaderError
	if errors.As(err, &te) {
		return "tls"
	}
	if errors.Is(err, io.EOF) {
		return "eof"
	}
	return "conn"
}
