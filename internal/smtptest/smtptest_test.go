package smtptest

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func TestAcceptsAndRecordsRawBytes(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{RcptReplies: map[string][]string{"bad@x.test": {"550 5.1.1 no such user"}}})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@x.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bad@x.test"); err == nil || !strings.Contains(err.Error(), "5.1.1 no such user") {
		t.Fatalf("RCPT bad: got %v, want 550 5.1.1", err)
	}
	if err := c.Rcpt("b@x.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: hi\r\n\r\n.dot\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if got, want := string(m.Raw), "Subject: hi\r\n\r\n..dot\r\n.\r\n"; got != want {
		t.Errorf("Raw = %q, want %q", got, want)
	}
	if m.From != "a@x.test" || len(m.Rcpts) != 1 || m.Rcpts[0] != "b@x.test" {
		t.Errorf("envelope = %q %q", m.From, m.Rcpts)
	}
}

func TestSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{STARTTLS: true, AuthUser: "u", AuthPass: "p"})
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@x.test"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("MAIL before AUTH: got %v, want 530", err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: "mx.test", RootCAs: s.CertPool()}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@x.test"); err != nil {
		t.Fatal(err)
	}
	c.Rcpt("b@x.test")
	w, _ := c.Data()
	w.Write([]byte("x\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := s.WaitMessages(t, 1, 5*time.Second)[0]
	if !m.TLS || m.AuthUser != "u" {
		t.Errorf("TLS=%v AuthUser=%q, want true and u", m.TLS, m.AuthUser)
	}
}

func TestHangAndGreeting(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Greeting: "421 4.3.2 busy"})
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if line != "421 4.3.2 busy\r\n" {
		t.Errorf("greeting = %q", line)
	}

	h := Start(t, Config{Hang: HangGreeting})
	hc, err := net.Dial("tcp", h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := hc.Read(make([]byte, 1)); err == nil {
		t.Error("hanging server sent a greeting")
	}
}
