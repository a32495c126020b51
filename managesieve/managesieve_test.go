package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"mailgate/authlimit"
	"mailgate/certs"
	"mailgate/sieve"
	"mailgate/sieve/scripts"
)

type fakeAuth struct{}

func (fakeAuth) Authenticate(_ context.Context, user, pass string) (string, error) {
	if strings.EqualFold(user, "alice@example.com") && pass == "pw" {
		return "alice@example.com", nil
	}
	return "", errors.New("bad login")
}

// client is a raw ManageSieve client: it sends lines and reads replies
// up to OK, NO or BYE.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func start(t *testing.T, limiter LoginLimiter) (string, *tls.Config) {
	t.Helper()
	m, _, err := certs.SelfSigned(t.TempDir(), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	st, err := scripts.New(t.TempDir(), scripts.Limits{MaxScriptSize: 200, MaxScripts: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Scripts: st, Auth: fakeAuth{}, Logins: limiter, TLS: m.TLSConfig(),
		Capabilities: sieve.Capabilities, MaxRedirects: 4, AuthFailureDelay: time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}
}

func dial(t *testing.T, addr string) (*client, string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	return cl, cl.read()
}

// read returns every line up to and including the final OK/NO/BYE.
func (c *client) read() string {
	c.t.Helper()
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String()
		}
		for _, end := range []string{"OK", "NO", "BYE"} {
			if strings.HasPrefix(line, end+" ") || strings.HasPrefix(line, end+"\r") {
				return b.String()
			}
		}
	}
}

func (c *client) cmd(line string) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, "%s\r\n", line)
	return c.read()
}

func (c *client) starttls(cfg *tls.Config) string {
	c.t.Helper()
	if r := c.cmd("STARTTLS"); !strings.HasPrefix(r, "OK") {
		c.t.Fatalf("STARTTLS: %s", r)
	}
	tc := tls.Client(c.conn, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	return c.read()
}

func plain(user, pw string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pw))
}

func TestSessionCommands(t *testing.T) {
	addr, tcfg := start(t, nil)
	c, greeting := dial(t, addr)
	for _, want := range []string{`"SASL" ""`, `"STARTTLS"`, `"VERSION" "1.0"`, `"MAXREDIRECTS" "4"`, "vacation", "OK "} {
		if !strings.Contains(greeting, want) {
			t.Errorf("greeting lacks %q:\n%s", want, greeting)
		}
	}
	if r := c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", "pw") + `"`); !strings.HasPrefix(r, "NO (ENCRYPT-NEEDED)") {
		t.Errorf("AUTH before TLS: %s", r)
	}
	if r := c.cmd("LISTSCRIPTS"); !strings.HasPrefix(r, "NO") {
		t.Errorf("LISTSCRIPTS before login: %s", r)
	}
	caps := c.starttls(tcfg)
	if !strings.Contains(caps, `"SASL" "PLAIN"`) || strings.Contains(caps, `"STARTTLS"`) {
		t.Errorf("capabilities after TLS:\n%s", caps)
	}
	// The response on its own line, after the empty challenge.
	fmt.Fprintf(c.conn, "AUTHENTICATE \"PLAIN\"\r\n")
	if line, _ := c.r.ReadString('\n'); line != "\"\"\r\n" {
		t.Fatalf("challenge %q", line)
	}
	if r := c.cmd(`"` + plain("alice@example.com", "pw") + `"`); !strings.HasPrefix(r, "OK") {
		t.Fatalf("login: %s", r)
	}
	steps := []struct{ send, want string }{
		{"PUTSCRIPT \"main\" {6+}\r\nkeep;\n", "OK"},
		{"PUTSCRIPT \"bad\" {5+}\r\nkeep\n", `NO "The script has an error: line 2, column 1: expected ; or { after keep`},
		{"CHECKSCRIPT {13}\r\nfileinto \"x\";", `NO "The script has an error: line 1, column 1: fileinto needs require \"fileinto\" at the top`},
		{"HAVESPACE \"other\" 500", "NO (QUOTA/MAXSIZE)"},
		{"HAVESPACE \"other\" 50", "OK"},
		{"SETACTIVE \"nope\"", "NO (NONEXISTENT)"},
		{"SETACTIVE \"main\"", "OK"},
		{"LISTSCRIPTS", "\"main\" ACTIVE\r\nOK"},
		{"GETSCRIPT \"main\"", "{6}\r\nkeep;\n\r\nOK"},
		{"DELETESCRIPT \"main\"", "NO (ACTIVE)"},
		{"RENAMESCRIPT \"main\" \"new\"", "OK"},
		{"LISTSCRIPTS", "\"new\" ACTIVE\r\nOK"},
		{"SETACTIVE \"\"", "OK"},
		{"DELETESCRIPT \"new\"", "OK"},
		{"NOOP \"x1\"", "OK (TAG \"x1\")"},
		{"FROB", "NO \"Unknown command FROB.\""},
		{"LOGOUT", "OK"},
	}
	for _, s := range steps {
		if r := c.cmd(s.send); !strings.HasPrefix(r, s.want) {
			t.Errorf("%q: got %q, want %q...", s.send, r, s.want)
		}
	}
}

// TestHostileInput: a literal over the limit ends the connection (its
// bytes must not run as commands); overlong lines too; guessing locks.
func TestHostileInput(t *testing.T) {
	lim := authlimit.New(authlimit.Options{MaxFailures: 2, Window: time.Hour, Lockout: time.Hour})
	addr, tcfg := start(t, lim)
	c, _ := dial(t, addr)
	c.starttls(tcfg)
	c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", "pw") + `"`)
	if r := c.cmd("PUTSCRIPT \"x\" {100000+}\r\nLOGOUT"); !strings.HasPrefix(r, "BYE (QUOTA/MAXSIZE)") {
		t.Errorf("huge literal: %q", r)
	}
	c, _ = dial(t, addr)
	if r := c.cmd(strings.Repeat("A", 10000)); !strings.HasPrefix(r, "BYE") {
		t.Errorf("long line: %q", r)
	}
	c, _ = dial(t, addr)
	c.starttls(tcfg)
	for i := 0; i < 2; i++ {
		if r := c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", "guess") + `"`); !strings.HasPrefix(r, "NO") {
			t.Errorf("bad password %d: %q", i, r)
		}
	}
	if r := c.cmd(`AUTHENTICATE "PLAIN" "` + plain("alice@example.com", "pw") + `"`); !strings.HasPrefix(r, "NO (TRYLATER)") {
		t.Errorf("right password while locked out: %q", r)
	}
}
