package delivery

import (
	"context"
	"errors"
	"io"
	"mailgate/internal/mailmsg"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// lmtpStore is an LMTP server for tests: RCPT refuses gone@, DATA
// answers full@ with 452 4.2.2 and everyone else with 250.
type lmtpStore struct {
	conns atomic.Int32
	got   atomic.Int32 // messages accepted for at least one recipient
}

type lmtpStoreSession struct {
	st    *lmtpStore
	rcpts []string
}

func (b *lmtpStore) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &lmtpStoreSession{st: b}, nil
}

func (s *lmtpStoreSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *lmtpStoreSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "gone@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *lmtpStoreSession) Data(io.Reader) error { return errors.New("LMTPData only") }
func (s *lmtpStoreSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	io.Copy(io.Discard, r)
	for _, rc := range s.rcpts {
		if rc == "full@example.com" {
			status.SetStatus(rc, &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox is full"})
		} else {
			status.SetStatus(rc, nil)
		}
	}
	s.st.got.Add(1)
	return nil
}
func (s *lmtpStoreSession) Reset()        { s.rcpts = nil }
func (s *lmtpStoreSession) Logout() error { return nil }

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startLMTPStore(t *testing.T) (*lmtpStore, string) {
	t.Helper()
	st := &lmtpStore{}
	srv := smtp.NewServer(st)
	srv.LMTP = true
	srv.Domain = "store.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(countingListener{ln, &st.conns})
	t.Cleanup(func() { srv.Close() })
	return st, ln.Addr().String()
}

// TestLMTPResultsAndReuse: each recipient's reply becomes its result
// (250 delivered, 452 after DATA retried, 550 at RCPT bounced), and the
// second message goes over the first one's connection.
func TestLMTPResultsAndReuse(t *testing.T) {
	t.Parallel()
	st, addr := startLMTPStore(t)
	l := &LMTP{Addr: addr, Hostname: "mg.test", IdleTimeout: time.Minute, MaxIdle: 2, Metrics: NewMetrics(nil)}
	defer l.Close()
	req := &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "q1", From: "a@example.org"}, Body: []byte("Subject: x\r\n\r\n.dot\r\nhi\r\n"),
		Recipients: []mailmsg.Recipient{{Addr: "ok@example.com"}, {Addr: "full@example.com"}, {Addr: "gone@example.com"}}}
	for round := 0; round < 2; round++ {
		res := l.Deliver(context.Background(), req)
		if res[0].Err != nil || res[0].Relayed {
			t.Errorf("ok@: %+v", res[0])
		}
		var e *mailmsg.Error
		if !errors.As(res[1].Err, &e) || e.Permanent || e.Code != 452 || e.Enhanced != "4.2.2" || e.Command != mailmsg.CmdData {
			t.Errorf("full@: %v", res[1].Err)
		}
		if !errors.As(res[2].Err, &e) || !e.Permanent || e.Code != 550 || e.Command != mailmsg.CmdRcpt {
			t.Errorf("gone@: %v", res[2].Err)
		}
	}
	if st.conns.Load() != 1 || st.got.Load() != 2 {
		t.Errorf("%d connections for %d messages, want 1 for 2", st.conns.Load(), st.got.Load())
	}
}

// TestLMTPServerDown: no server is a temporary failure for everyone.
func TestLMTPServerDown(t *testing.T) {
	t.Parallel()
	l := &LMTP{Addr: "unix:/nonexistent/lmtp", Hostname: "mg.test", Metrics: NewMetrics(nil)}
	defer l.Close()
	res := l.Deliver(context.Background(), &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "q", From: "a@example.org"}, Body: []byte("x\r\n"), Recipients: []mailmsg.Recipient{{Addr: "ok@example.com"}}})
	var e *mailmsg.Error
	if !errors.As(res[0].Err, &e) || e.Permanent || e.Enhanced != "4.4.1" {
		t.Errorf("result %v", res[0].Err)
	}
}
