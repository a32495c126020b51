package e2e

import (
	"bufio"
	"encoding/base64"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// startWithListenerKeys starts a server with protos, then adds YAML keys
// (such as "allow_insecure_auth: true") to the named listeners and
// restarts it, since mgtest writes listeners without extra keys.
func startWithListenerKeys(t *testing.T, opts mgtest.Options, keys map[string]string) *mgtest.Server {
	t.Helper()
	srv := mgtest.Start(t, opts)
	if code := srv.Stop(); code != 0 {
		t.Fatalf("first stop: exit %d", code)
	}
	b, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for name, key := range keys {
		proto := name
		if name == "mx" {
			proto = "smtp"
		}
		addr := "    address: " + srv.Addr[proto] + "\n"
		if !strings.Contains(cfg, addr) {
			t.Fatalf("no listener %s in config", name)
		}
		cfg = strings.Replace(cfg, addr, addr+"    "+key+"\n", 1)
	}
	if err := os.WriteFile(srv.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	return srv
}

// lineConn is a clear-text protocol conversation for attack tests.
type lineConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dialFrom connects to addr from the loopback address src ("" for any).
func dialFrom(t *testing.T, src, addr string) *lineConn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	c.SetDeadline(time.Now().Add(mgtest.Timeout))
	return &lineConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (l *lineConn) send(line string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(line + "\r\n")); err != nil {
		l.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one reply line without its CRLF ("" at EOF).
func (l *lineConn) line() string {
	s, _ := l.r.ReadString('\n')
	return strings.TrimRight(s, "\r\n")
}

// smtpReply reads a (multi-line) SMTP reply and returns its last line.
func (l *lineConn) smtpReply() string {
	for {
		s := l.line()
		if len(s) < 4 || s[3] != '-' {
			return s
		}
	}
}

// untilTagged reads IMAP lines up to the one tagged tag and returns it.
func (l *lineConn) untilTagged(tag string) string {
	for {
		s := l.line()
		if s == "" || strings.HasPrefix(s, tag+" ") {
			return s
		}
	}
}

func (l *lineConn) close() { l.c.Close() }

// plainIR is an AUTH PLAIN initial response.
func plainIR(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

// smtpAuth tries AUTH PLAIN on a new connection and returns the reply.
func smtpAuth(t *testing.T, src, addr, user, pass string) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.close()
	c.smtpReply()
	c.send("EHLO client.example")
	c.smtpReply()
	c.send("AUTH PLAIN " + plainIR(user, pass))
	r := c.smtpReply()
	c.send("QUIT")
	return r
}

// imapLogin tries LOGIN on a new connection and returns the tagged reply.
func imapLogin(t *testing.T, src, addr, user, pass string) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.close()
	c.line()
	c.send(`a LOGIN "` + user + `" "` + pass + `"`)
	r := c.untilTagged("a")
	c.send("b LOGOUT")
	return r
}

// pop3Login tries USER/PASS on a new connection and returns PASS's reply.
func pop3Login(t *testing.T, src, addr, user, pass string) string {
	t.Helper()
	c := dialFrom(t, src, addr)
	defer c.close()
	c.line()
	c.send("USER " + user)
	if r := c.line(); !strings.HasPrefix(r, "+OK") {
		return r
	}
	c.send("PASS " + pass)
	r := c.line()
	c.send("QUIT")
	return r
}
