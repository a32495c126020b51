package imap

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

func TestLoginOnlyAfterTLS(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.plainAddr, false)
	greeting := c.line()
	for _, want := range []string{"IMAP4rev2", "STARTTLS", "LOGINDISABLED"} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting %q lacks %s", greeting, want)
		}
	}
	if strings.Contains(greeting, "AUTH=PLAIN") {
		t.Errorf("greeting %q offers AUTH=PLAIN before TLS", greeting)
	}
	c.send("a1 LOGIN alice secret\r\n")
	if got, want := c.line(), "a1 NO [PRIVACYREQUIRED] TLS is required to authenticate"; got != want {
		t.Errorf("LOGIN before TLS: %q, want %q", got, want)
	}
	c.send("a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n")
	if got, want := c.line(), "a2 NO [PRIVACYREQUIRED] TLS is required to authenticate"; got != want {
		t.Errorf("AUTHENTICATE before TLS: %q, want %q", got, want)
	}
}

func TestStartTLSThenLogin(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c, err := imapclient.DialStartTLS(env.plainAddr, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "wrong").Wait(); err == nil || !strings.Contains(err.Error(), "AUTHENTICATIONFAILED") {
		t.Errorf("wrong password: %v, want NO [AUTHENTICATIONFAILED]", err)
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticatePlainOverTLS(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	if g := c.line(); !strings.Contains(g, "AUTH=PLAIN") || strings.Contains(g, "LOGINDISABLED") {
		t.Errorf("greeting over TLS: %q", g)
	}
	c.send("a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n") // \0alice\0secret
	if got := c.until("a1 "); !strings.HasPrefix(got[len(got)-1], "a1 OK ") {
		t.Errorf("AUTHENTICATE PLAIN: %q", got)
	}
}

func TestTooManyLoginFailures(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	for i := 1; i <= 2; i++ {
		c.send("a LOGIN alice bad\r\n")
		if got := c.line(); got != "a NO [AUTHENTICATIONFAILED] Authentication failed" {
			t.Fatalf("failure %d: %q", i, got)
		}
	}
	c.send("a LOGIN alice bad\r\n")
	if got := c.rest(); !strings.Contains(got, "* BYE Too many failed logins") {
		t.Errorf("third failure: %q, want * BYE", got)
	}
}

func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.MaxConnections = 1 })
	first := dialRaw(t, env.plainAddr, false)
	first.line()
	second := dialRaw(t, env.plainAddr, false)
	if got := second.line(); got != "* BYE Too many connections; try again later" {
		t.Errorf("second connection: %q", got)
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a LOGIN alice secret\r\n")
	c.until("a ")
	start := time.Now()
	c.rest() // returns when the server hangs up
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("connection closed after %v, want about 300ms", d)
	}
}
