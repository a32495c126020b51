package imap

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

const (
	preTLSCaps  = "IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- STARTTLS LOGINDISABLED ID"
	overTLSCaps = "IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN ID"
	loggedCaps  = "IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH " +
		"SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE LITERAL+ " +
		"APPENDLIMIT=52428800 QUOTA QUOTA=RES-STORAGE SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND CATENATE NOTIFY ID CONDSTORE QRESYNC PARTIAL"
)

// upgrade runs the client side of TLS on a raw connection after STARTTLS.
func (c *rawConn) upgrade() {
	c.t.Helper()
	tc := tls.Client(c.conn, clientTLS)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STARTTLS: %v", err)
	}
	c.conn = tc
	c.r.Reset(tc)
}

// expect sends cmd and checks the exact reply lines up to cmd's tag.
func (c *rawConn) expect(cmd string, want ...string) {
	c.t.Helper()
	c.send(cmd)
	tag := strings.Fields(cmd)[0] + " "
	got := c.until(tag)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		c.t.Errorf("%q answered:\n%s\nwant:\n%s", cmd, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCapabilitiesByState walks the plain port from greeting to login:
// exact lists in the greeting, CAPABILITY and LOGIN's OK, with QUOTA only
// after login.
func TestCapabilitiesByState(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.plainAddr, false)
	if got, want := c.line(), "* OK [CAPABILITY "+preTLSCaps+"] IMAP server ready"; got != want {
		t.Errorf("greeting %q, want %q", got, want)
	}
	c.expect("a CAPABILITY\r\n", "* CAPABILITY "+preTLSCaps, "a OK CAPABILITY completed")
	c.expect("b LOGIN alice secret\r\n", "b NO [PRIVACYREQUIRED] TLS is required to authenticate")
	c.expect("c STARTTLS\r\n", "c OK Begin TLS negotiation now")
	c.upgrade()
	c.expect("d CAPABILITY\r\n", "* CAPABILITY "+overTLSCaps, "d OK CAPABILITY completed")
	c.expect("e LOGIN alice secret\r\n", "e OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.expect("f CAPABILITY\r\n", "* CAPABILITY "+loggedCaps, "f OK CAPABILITY completed")
	c.expect("g STARTTLS\r\n", "g BAD STARTTLS not available")

	tc := dialRaw(t, env.tlsAddr, true)
	if got, want := tc.line(), "* OK [CAPABILITY "+overTLSCaps+"] IMAP server ready"; got != want {
		t.Errorf("implicit TLS greeting %q, want %q", got, want)
	}
	tc.expect("a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
		"a OK [CAPABILITY "+loggedCaps+"] PLAIN authentication successful")
}

// TestCapabilitiesWithoutTLS: no certificate, clear-text logins allowed
// (a loopback test listener): no STARTTLS, AUTH=PLAIN offered.
func TestCapabilitiesWithoutTLS(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.TLS, o.AllowInsecureAuth = nil, true })
	c := dialRaw(t, env.plainAddr, false)
	if got, want := c.line(), "* OK [CAPABILITY "+overTLSCaps+"] IMAP server ready"; got != want {
		t.Errorf("greeting %q, want %q", got, want)
	}
	c.expect("a STARTTLS\r\n", "a NO STARTTLS not supported")
	c.expect("b LOGIN alice secret\r\n", "b OK [CAPABILITY "+loggedCaps+"] Logged in")
}

// TestLoginLiteralBeforeTLS: a password sent as literals before TLS is
// read (as imapserver did) and refused.
func TestLoginLiteralBeforeTLS(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.plainAddr, false)
	c.line()
	c.send("a LOGIN {5}\r\n")
	if got, want := c.line(), "+ Ready for literal data"; got != want {
		t.Fatalf("LOGIN literal before TLS: %q, want %q", got, want)
	}
	c.send("alice {6+}\r\nsecret\r\n")
	if got, want := c.line(), "a NO [PRIVACYREQUIRED] TLS is required to authenticate"; got != want {
		t.Errorf("LOGIN with literals before TLS: %q, want %q", got, want)
	}
	c.expect("b AUTHENTICATE PLAIN\r\n", "b NO [PRIVACYREQUIRED] TLS is required to authenticate")
	c.expect("c NOOP\r\n", "c OK NOOP completed")
}

// TestStartTLSDropsPipelinedCommands: a LOGIN sent in the same packet as
// STARTTLS never runs inside TLS (it would be an attacker's injection).
func TestStartTLSDropsPipelinedCommands(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.plainAddr, false)
	c.line()
	c.expect("a STARTTLS\r\nb LOGIN alice secret\r\n", "a OK Begin TLS negotiation now")
	c.upgrade()
	c.expect("c CAPABILITY\r\n", "* CAPABILITY "+overTLSCaps, "c OK CAPABILITY completed")
	c.expect("d STARTTLS\r\n", "d BAD STARTTLS not available")
}

// TestBadLinesCloseConnection: a bare CR could make imapserver and the
// front split the stream differently; an endless line is not buffered.
func TestBadLinesCloseConnection(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	cases := []struct{ name, send, want string }{
		{"bare CR", "a NOOP x\rb LOGIN alice secret\r\n", "* BYE Bare CR in a command line; end lines with CRLF\r\n"},
		{"long line", "a NOOP " + strings.Repeat("x", maxLine-7), "* BYE Command line longer than 65536 bytes; closing the connection\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, env.plainAddr, false)
			c.line()
			c.send(tc.send)
			if got := c.rest(); got != tc.want {
				t.Errorf("server sent %q, want %q and the connection closed", got, tc.want)
			}
		})
	}
}

// TestBeforeLoginQuotaIsUnknown: before login the QUOTA commands are
// unknown, and imapserver ends the connection as for any unknown command.
func TestBeforeLoginQuotaIsUnknown(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a GETQUOTAROOT INBOX\r\n")
	if got, want := c.rest(), "a BAD Unknown command\r\n* BYE Unknown command\r\n"; got != want {
		t.Errorf("server sent %q, want %q", got, want)
	}
}

// TestCapabilitiesMatchImapserver: the lists are the ones imapserver
// gave (when it ran TLS and refused clear-text logins itself), plus
// QUOTA, SORT, THREAD and MULTIAPPEND after login and ID always: moving
// to our own protocol layer took no capability away.
func TestCapabilitiesMatchImapserver(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.plainAddr, false)
	c.line()
	var got []string
	for _, cmd := range []string{"a CAPABILITY", "b STARTTLS", "c CAPABILITY", "d LOGIN alice secret", "e CAPABILITY"} {
		c.send(cmd + "\r\n")
		lines := c.until(cmd[:2])
		if cmd == "b STARTTLS" {
			c.upgrade()
		} else if strings.HasSuffix(cmd, "CAPABILITY") {
			got = append(got, lines[0])
		}
	}
	want := []string{
		"* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- STARTTLS LOGINDISABLED ID",
		"* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- AUTH=PLAIN ID",
		"* CAPABILITY IMAP4rev2 IMAP4rev1 SASL-IR LITERAL- UNSELECT ENABLE IDLE UTF8=ACCEPT NAMESPACE UIDPLUS ESEARCH " +
			"SEARCHRES LIST-EXTENDED LIST-STATUS MOVE STATUS=SIZE BINARY CHILDREN SPECIAL-USE LITERAL+ APPENDLIMIT=52428800 " +
			"QUOTA QUOTA=RES-STORAGE SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES MULTIAPPEND CATENATE NOTIFY ID CONDSTORE QRESYNC PARTIAL",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lists:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestIdleTimeoutCountsFrontCommands: commands the front answers count as
// activity, as imapserver's do: a client that only polls the quota is not
// cut off after IdleTimeout from its first command.
func TestIdleTimeoutCountsFrontCommands(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.IdleTimeout = 1500 * time.Millisecond })
	env.store.SetQuota(alice, 2000000)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	for i := range 3 {
		time.Sleep(600 * time.Millisecond) // the client's pace is what is tested
		tag := string(rune('b' + i))
		c.expect(tag+` GETQUOTA ""`+"\r\n", `* QUOTA "" (STORAGE 0 1953)`, tag+" OK GETQUOTA completed")
	}
}

// TestSyncLiteralAfterPipelinedCommand: a synchronising literal on a
// command's second line, behind another command in the same packet, is
// handed on alone, so the literal guard takes the server's "+" (not the
// other command's OK) as its verdict and skips the literal's bytes,
// which here look like an oversized literal announcement.
func TestSyncLiteralAfterPipelinedCommand(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.send("b NOOP\r\nc RENAME {7+}\r\nArchive {12}\r\n")
	if got := strings.Join([]string{c.line(), c.line()}, "\n"); got != "b OK NOOP completed\n+ Ready for literal data" {
		t.Fatalf("replies before the literal: %q", got)
	}
	c.send("x{999999999}\r\n")
	if got := c.line(); got != "c OK RENAME completed" {
		t.Errorf("RENAME to a name that looks like a literal: %q", got)
	}
	if !env.store.FolderExists(alice, "x{999999999}") {
		t.Error("the renamed folder is missing")
	}
}

// TestOpenQuotedString: imapserver's decoder reads a quoted string on
// across the line end, so `a LIST " *` swallowed the next commands,
// LOGOUT included, and the session hung (FuzzIMAPSession). The front
// answers such a line BAD and the commands after it run; in a command's
// later line, after a literal, it ends the connection.
func TestOpenQuotedString(t *testing.T) {
	t.Parallel()
	env := startServer(t, func(o *Options) { o.TLS, o.AllowInsecureAuth = nil, true })
	c := dialRaw(t, env.plainAddr, false)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.expect("b LIST \" *\r\n", `b BAD Quoted string not closed at the end of the line; close it with " or send the text as a literal`)
	c.expect("c LIST \"\" \"x\\\"y\"\r\n", "c OK LIST completed") // an escaped quote inside one
	c.send("d LOGOUT\r\n")
	if got := c.until("d "); got[len(got)-1] != "d OK LOGOUT completed" {
		t.Errorf("LOGOUT after an open quote: %q", got)
	}

	c = dialRaw(t, env.plainAddr, false)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.send("b LIST {1+}\r\nx \"open\r\n")
	if got := c.rest(); got != "* BYE Quoted string not closed at the end of the line; closing the connection\r\n" {
		t.Errorf("open quote after a literal: %q", got)
	}
}

func TestOpenQuote(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]bool{
		`a LIST "" *`: false, `a LIST " *`: true, `a X "a\"b"`: false, `a X "a\\"`: false,
		`a X "a\\\"`: true, `a STORE 1 +FLAGS (\Seen)`: false, `a X "\`: true, `a X "" "`: true,
	} {
		if got := openQuote([]byte(text)); got != want {
			t.Errorf("openQuote(%s) = %v, want %v", text, got, want)
		}
	}
}
