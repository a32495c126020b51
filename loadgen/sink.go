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
// It speaks SMTP itself (sinkproto.go) rather than through go-smtp, whose
// byte-at-a-time DATA reader made the instrument cost as much CPU as the
// server it measures.
type Sink struct {
	o      SinkOptions
	ln     net.Listener
	mu     sync.Mutex
	st     SinkStats
	count  atomic.Int64
	doneCh chan struct{}
	once   sync.Once

	// connMu guards conns and closing; wg counts connection goroutines,
	// added only while closing is false so that Close can wait on it.
	connMu  sync.Mutex
	conns   map[net.Conn]struct{}
	closing atomic.Bool
	wg      sync.WaitGroup
	pool    sync.Pool // *sinkConn, reused buffers
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
	s := &Sink{o: o, ln: ln, doneCh: make(chan struct{}), st: SinkStats{DKIM: map[string]int64{}},
		conns: map[net.Conn]struct{}{}}
	go s.serve()
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

// Close stops the sink: no new connections, MAIL refused, and the
// connections still open (clients that cache them) closed after a
// second, which lets the reply being written go out.
func (s *Sink) Close() {
	s.once.Do(func() {
		s.connMu.Lock()
		s.closing.Store(true)
		s.connMu.Unlock()
		s.ln.Close()
		idle := make(chan struct{})
		go func() { s.wg.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-time.After(time.Second):
			s.connMu.Lock()
			for c := range s.conns {
				c.Close()
			}
			s.connMu.Unlock()
			<-idle
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

// record counts one message of n bytes (raw holds them when saving or
// verifying) and reports false when the sink had already taken
// MaxMessages, so that the message is refused rather than counted.
func (s *Sink) record(raw []byte, n int64) bool {
	c := s.count.Add(1)
	if s.o.MaxMessages > 0 && c > s.o.MaxMessages {
		return false
	}
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
	s.st.Bytes += n
	s.st.LastNs = now
	if verdict != "" {
		s.st.DKIM[verdict]++
	}
	s.mu.Unlock()
	if s.o.MaxMessages > 0 && c == s.o.MaxMessages {
		go s.Close() // after this reply is sent
	}
	return true
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
