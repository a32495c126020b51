package loadgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// tlsServer is a go-smtp server with a self-signed certificate and AUTH
// PLAIN for one account, standing in for mailgate's submission port so
// that the sender's STARTTLS, implicit TLS and AUTH are tested against
// another implementation.
type tlsServer struct {
	mu    sync.Mutex
	seen  []string // "tls user from body" per message
	addr  string
	close func()
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func startTLSServer(t *testing.T, implicit bool) *tlsServer {
	t.Helper()
	ts := &tlsServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &tlsSession{ts: ts, tls: isTLS}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicit {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	ts.addr = ln.Addr().String()
	return ts
}

type tlsSession struct {
	ts   *tlsServer
	tls  bool
	user string
	from string
}

func (s *tlsSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *tlsSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "u@localhost" || pass != "secret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.user = user
		return nil
	}), nil
}
func (s *tlsSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authenticate first"}
	}
	s.from = from
	return nil
}
func (s *tlsSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *tlsSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	tlsWord := "plain"
	if s.tls {
		tlsWord = "tls"
	}
	s.ts.mu.Lock()
	s.ts.seen = append(s.ts.seen, tlsWord+" "+s.user+" "+s.from+" "+body)
	s.ts.mu.Unlock()
	return nil
}
func (s *tlsSession) Reset()        {}
func (s *tlsSession) Logout() error { return nil }

// TestSendTLSAndAuth sends over STARTTLS and implicit TLS with AUTH PLAIN,
// and counts refusals by reply code.
func TestSendTLSAndAuth(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"starttls", "implicit"} {
		ts := startTLSServer(t, mode == "implicit")
		o := SendOptions{Addr: ts.addr, N: 2, Concurrency: 1, TLS: mode, User: "u@localhost", Password: "secret",
			From: "a@localhost", To: []string{"b@localhost"}, body: []byte("body\r\n.dotted\r\n")}
		res, err := Send(o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 2 || res.Failed != 0 {
			t.Fatalf("%s: sent %d failed %d (%v); want 2, 0", mode, res.Sent, res.Failed, res.Errors)
		}
		ts.mu.Lock()
		want := "tls u@localhost a@localhost body\r\n.dotted\r\n"
		if len(ts.seen) != 2 || ts.seen[0] != want || ts.seen[1] != want {
			t.Errorf("%s: server saw %q; want twice %q", mode, ts.seen, want)
		}
		ts.mu.Unlock()

		o.Password = "wrong"
		res, _ = Send(o)
		if res.Failed != 2 || res.Errors["535"] != 2 {
			t.Errorf("%s, wrong password: failed %d (%v); want 2 counted as 535", mode, res.Failed, res.Errors)
		}
	}
	// TLS against the sink, which has none: a TLS client reads its plain
	// greeting as a broken record; STARTTLS is not offered.
	sink, _ := startSink(t)
	for mode, want := range map[string]string{"implicit": "tls", "starttls": "conn"} {
		res, err := Send(SendOptions{Addr: sink.Addr(), N: 1, Concurrency: 1, TLS: mode,
			From: "a@localhost", To: []string{"b@localhost"}})
		if err != nil || res.Failed != 1 || res.Errors[want] != 1 {
			t.Errorf("%s to the plain sink: %v, %+v; want one failure counted as %q", mode, err, res, want)
		}
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&replyError{Code: 552, Line: "552 5.3.4 too big"}, "552"},
		{io.EOF, "eof"},
		{tls.RecordHeaderError{Msg: "not tls"}, "tls"},
		{errors.New("smtp: malformed reply line"), "conn"},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, "timeout"},
	} {
		if got := errorCode(tc.err); got != tc.want {
			t.Errorf("errorCode(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
