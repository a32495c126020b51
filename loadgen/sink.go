package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
)

// SinkOptions describe a counting SMTP server.
type SinkOptions struct {
	Addr        string        // loopback host:port to listen on
	MaxMessages int64         // stop after this many messages (0: no count bound)
	MaxDuration time.Duration // stop after this long (0: 10m)
	SaveDir     string        // write each message here when not empty
	// LookupTXT, when set, turns on DKIM verification of every message
	// with these DNS lookups; results are counted in SinkStats.
	LookupTXT func(domain string) ([]string, error)
	// StatusAddr, when set, serves GET /stats (SinkStats as JSON) and
	// POST /reset on this loopback address, so a script can count one run
	// at a time against a sink that stays up.
	StatusAddr string
	Progress   io.Writer
}

// SinkStats is what the sink has counted since it started or was reset.
type SinkStats struct {
	Messages int64            `json:"messages"`
	Bytes    int64            `json:"bytes"`
	FirstNs  int64            `json:"first_ns"` // end of the first message's data
	LastNs   int64            `json:"last_ns"`
	DKIM     map[string]int64 `json:"dkim,omitempty"` // pass, fail, none
}

// Sink accepts every message, counts it and throws it away (or saves it).
type Sink struct {
	o      SinkOptions
	srv    *smtp.Server
	ln     net.Listener
	mu     sync.Mutex
	st     SinkStats
	count  atomic.Int64
	doneCh chan struct{}
	once   sync.Once
}

// StartSink listens and serves until Close, MaxMessages or MaxDuration.
func StartSink(o SinkOptions) (*Sink, error) {
	if err := checkLoopback(o.Addr); err != nil {
		return nil, err
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 10 * time.Minute
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{o: o, ln: ln, doneCh: make(chan struct{}), st: SinkStats{DKIM: map[string]int64{}}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "sink.localhost"
	s.srv.MaxMessageBytes = 64 << 20
	s.srv.MaxRecipients = 1000
	s.srv.ReadTimeout = 5 * time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.EnableSMTPUTF8 = true
	s.srv.ErrorLog = nopLogger{}
	go s.srv.Serve(ln)
	if o.StatusAddr != "" {
		if err := s.serveStatus(); err != nil {
			s.Close()
			return nil, err
		}
	}
	time.AfterFunc(o.MaxDuration, s.Close)
	return s, nil
}

// Addr is the address the sink listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Done is closed when the sink has stopped.
func (s *Sink) Done() <-chan struct{} { return s.doneCh }

// Close stops the sink.
func (s *Sink) Close() {
	s.once.Do(func() {
		// Shutdown lets the last reply go out; clients that keep their
		// connections cached get closed after a second.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			s.srv.Close()
		}
		close(s.doneCh)
	})
}

// Stats returns a copy of the counts.
func (s *Sink) Stats() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.DKIM = map[string]int64{}
	for k, v := range s.st.DKIM {
		st.DKIM[k] = v
	}
	return st
}

// Reset zeroes the counts (not the MaxMessages bound).
func (s *Sink) Reset() {
	s.mu.Lock()
	s.st = SinkStats{DKIM: map[string]int64{}}
	s.mu.Unlock()
}

func (s *Sink) serveStatus() error {
	if err := checkLoopback(s.o.StatusAddr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.o.StatusAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(s.Stats())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) { s.Reset() })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	go func() { <-s.doneCh; hs.Shutdown(context.Background()) }()
	return nil
}

func (s *Sink) record(raw []byte) {
	verdict := ""
	if s.o.LookupTXT != nil {
		verdict = s.verify(raw)
	}
	now := time.Now().UnixNano()
	s.mu.Lock()
	if s.st.Messages == 0 {
		s.st.FirstNs = now
	}
	s.st.Messages++
	s.st.Bytes += int64(len(raw))
	s.st.LastNs = now
	if verdict != "" {
		s.st.DKIM[verdict]++
	}
	s.mu.Unlock()
	if n := s.count.Add(1); s.o.MaxMessages > 0 && n >= s.o.MaxMessages {
		go s.Close() // after this reply is sent
	}
}

func (s *Sink) verify(raw []byte) string {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: s.o.LookupTXT})
	if err != nil || len(vs) == 0 {
		return "none"
	}
	for _, v := range vs {
		if v.Err == nil {
			return "pass"
		}
	}
	return "fail"
}

func (s *Sink) save(raw []byte, n int64) error {
	if s.o.SaveDir == "" {
		return nil
	}
	name := filepath.Join(s.o.SaveDir, fmt.Sprintf("%d-%d.eml", time.Now().UnixNano(), n))
	return os.WriteFile(name, raw, 0o600)
}

type sinkSession struct{ s *Sink }

func (ss *sinkSession) Reset()                               {}
func (ss *sinkSession) Logout() error                        { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.save(raw, ss.s.count.Load()); err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "sink cannot save the message"}
	}
	ss.s.record(raw)
	return nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...interface{}) {}
func (nopLogger) Println(...interface{})        {}
