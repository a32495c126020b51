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

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
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
	body := messageBody(o.Size)
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
			s := &sender{o: &o, body: body, rec: rec}
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
	o    *SendOptions
	body []byte
	rec  *recorder
	c    *smtp.Client
}

func (s *sender) one(i int64) {
	t0 := time.Now()
	if s.c == nil {
		c, err := s.dial()
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
		s.c.Quit()
		s.close()
	}
	s.rec.success("transaction", d)
}

func (s *sender) dial() (*smtp.Client, error) {
	tc := &tls.Config{InsecureSkipVerify: true} // loopback benchmark against self-signed certificates
	var c *smtp.Client
	var err error
	switch s.o.TLS {
	case "implicit":
		c, err = smtp.DialTLS(s.o.Addr, tc)
	case "starttls":
		c, err = smtp.DialStartTLS(s.o.Addr, tc)
	default:
		c, err = smtp.Dial(s.o.Addr)
	}
	if err != nil {
		return nil, err
	}
	c.CommandTimeout = time.Minute
	c.SubmissionTimeout = 5 * time.Minute
	if err := c.Hello("loadgen.localhost"); err != nil {
		c.Close()
		return nil, err
	}
	if s.o.User != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.o.User, s.o.Password)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (s *sender) transaction(i int64) error {
	if err := s.c.Mail(s.o.From, nil); err != nil {
		return err
	}
	for _, to := range s.o.To {
		if err := s.c.Rcpt(to, nil); err != nil {
			return err
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: loadgen message %d\r\nMessage-ID: <%d.%d@loadgen.localhost>\r\nDate: %s\r\n\r\n",
		s.o.From, s.o.To[0], i, time.Now().UnixNano(), i, time.Now().Format(time.RFC1123Z))
	if _, err := w.Write(s.body); err != nil {
		return err
	}
	return w.Close()
}

func (s *sender) close() {
	if s.c != nil {
		s.c.Close()
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
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return strconv.Itoa(se.Code)
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
