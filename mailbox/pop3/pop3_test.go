package pop3

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const (
	msgA = "From: carol@example.org\r\nTo: alice@pop.test\r\nSubject: first\r\n\r\nHello Alice.\r\n.hidden dot line\r\nBye.\r\n"
	msgB = "Subject: second\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"
)

// withMail starts a server and gives alice msgA and msgB.
func withMail(t *testing.T) (*env, []uint32) {
	e := startServer(t, nil)
	return e, []uint32{e.store.deliver(t, "alice", msgA), e.store.deliver(t, "alice", msgB)}
}

func TestCAPABeforeAndAfterTLS(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := e.dial(t)
	c.converse(`
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: STLS
		S: IMPLEMENTATION mailgate
		S: .`)
	c.startTLS(e)
	c.converse(`
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: USER
		S: SASL PLAIN
		S: IMPLEMENTATION mailgate
		S: .
		C: STLS
		S: -ERR already using TLS
		C: USER alice
		S: +OK send PASS
		C: PASS secret
		S: +OK logged in, 0 messages (0 octets)
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: IMPLEMENTATION mailgate
		S: .`)
}

func TestLoginRefusedBeforeTLS(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := e.dial(t)
	refused := "-ERR [AUTH] login is refused before TLS; send STLS first, or use the POP3S port"
	c.converse(`
		C: USER alice
		S: ` + refused + `
		C: PASS secret
		S: ` + refused + `
		C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
		S: ` + refused + `
		C: AUTH
		S: ` + refused + `
		C: STAT
		S: -ERR log in first with USER and PASS, or AUTH PLAIN
		C: QUIT
		S: +OK pop.test POP3 server signing off`)
	c.expectClosed()
}

func TestNoTLSConfigured(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.TLS = nil })
	c := e.dial(t)
	c.converse(`
		C: STLS
		S: -ERR STLS is not available: this server has no TLS certificate
		C: USER alice
		S: -ERR [AUTH] login is disabled: this server has no TLS certificate to protect passwords`)
}

func TestAllowInsecureAuth(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.AllowInsecureAuth = true })
	c := e.dial(t)
	c.converse(`
		C: CAPA
		S: +OK capability list follows
		S: TOP
		S: UIDL
		S: RESP-CODES
		S: AUTH-RESP-CODE
		S: PIPELINING
		S: USER
		S: SASL PLAIN
		S: STLS
		S: IMPLEMENTATION mailgate
		S: .
		C: USER alice
		S: +OK send PASS`)
	// STLS resets the session: the USER given in clear is forgotten.
	c.startTLS(e)
	c.converse(`
		C: PASS secret
		S: -ERR send USER first`)
}

func TestUSERPASS(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.dialTLS(t)
	c.converse(fmt.Sprintf(`
		C: PASS secret
		S: -ERR send USER first
		C: USER
		S: -ERR syntax: USER <name>
		C: USER alice
		S: +OK send PASS
		C: PASS wrong
		S: -ERR [AUTH] invalid user name or password
		C: PASS secret
		S: -ERR send USER first
		C: user Alice
		S: +OK send PASS
		C: pass secret
		S: +OK logged in, 2 messages (%d octets)
		C: USER bob
		S: -ERR already logged in; USER is only valid before login`, len(msgA)+len(msgB)))
}

func TestPasswordWithSpaces(t *testing.T) {
	t.Parallel()
	e := startServer(t, func(o *Options) { o.Auth = testAuth{"dave": "correct horse battery"} })
	c := e.dialTLS(t)
	c.converse(`
		C: USER dave
		S: +OK send PASS
		C: PASS correct horse battery
		S: +OK logged in, 0 messages (0 octets)`)
}

func TestTooManyAuthFailures(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	c := e.dialTLS(t)
	c.converse(`
		C: USER alice
		S: +OK send PASS
		C: PASS a
		S: -ERR [AUTH] invalid user name or password
		C: AUTH PLAIN AGFsaWNlAGI=
		S: -ERR [AUTH] invalid user name or password
		C: USER alice
		S: +OK send PASS
		C: PASS c
		S: -ERR [AUTH] invalid user name or password; too many failures, closing connection`)
	c.expectClosed()
}

func TestAUTHPLAIN(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	total := len(msgA) + len(msgB)
	// AGFsaWNlAHNlY3JldA== is "\x00alice\x00secret".
	c := e.dialTLS(t)
	c.converse(fmt.Sprintf(`
		C: AUTH
		S: +OK supported SASL mechanisms follow
		S: PLAIN
		S: .
		C: AUTH CRAM-MD5
		S: -ERR unsupported SASL mechanism; use AUTH PLAIN
		C: AUTH PLAIN
		S: + 
		C: *
		S: -ERR authentication cancelled
		C: AUTH PLAIN !!!
		S: -ERR malformed AUTH PLAIN response; send base64 of: authzid NUL user NUL password
		C: AUTH PLAIN =
		S: -ERR malformed AUTH PLAIN response; send base64 of: authzid NUL user NUL password
		C: AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==
		S: -ERR [AUTH] logging in as another user is not supported; leave the authorization identity empty
		C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
		S: +OK logged in, 2 messages (%d octets)`, total))

	// The continuation form, with an authorization identity equal to the user.
	c = e.dialTLS(t)
	c.converse(`
		C: AUTH PLAIN
		S: + 
		C: Ym9iAGJvYgBodW50ZXIy
		S: +OK logged in, 0 messages (0 octets)`)
}

func TestSTAT(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(fmt.Sprintf(`
		C: STAT
		S: +OK 2 %d
		C: DELE 1
		S: +OK message 1 deleted
		C: STAT
		S: +OK 1 %d`, len(msgA)+len(msgB), len(msgB)))
}

func TestLIST(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(fmt.Sprintf(`
		C: LIST
		S: +OK 2 messages (%[1]d octets)
		S: 1 %[2]d
		S: 2 %[3]d
		S: .
		C: LIST 2
		S: +OK 2 %[3]d
		C: LIST 3
		S: -ERR no such message, only 2 messages in maildrop
		C: LIST 0
		S: -ERR syntax: LIST [message number] (message numbers start at 1)
		C: LIST x
		S: -ERR syntax: LIST [message number] (message numbers start at 1)
		C: DELE 1
		S: +OK message 1 deleted
		C: LIST 1
		S: -ERR message 1 is deleted
		C: LIST
		S: +OK 1 messages (%[3]d octets)
		S: 2 %[3]d
		S: .`, len(msgA)+len(msgB), len(msgA), len(msgB)))
}

func TestUIDL(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	ids := e.store.uidls(t, "alice")
	script := fmt.Sprintf(`
		C: UIDL
		S: +OK 2 messages (%d octets)
		S: 1 %s
		S: 2 %s
		S: .
		C: UIDL 2
		S: +OK 2 %s
		C: QUIT
		S: +OK pop.test POP3 server signing off (0 messages deleted)`,
		len(msgA)+len(msgB), ids[0], ids[1], ids[1])
	e.login(t, "alice", "secret").converse(script)
	// The same values in the next session.
	e.login(t, "alice", "secret").converse(script)
}

func TestRETR(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(fmt.Sprintf(`
		C: RETR 1
		S: +OK %d octets
		S: From: carol@example.org
		S: To: alice@pop.test
		S: Subject: first
		S:
		S: Hello Alice.
		S: ..hidden dot line
		S: Bye.
		S: .
		C: RETR 3
		S: -ERR no such message, only 2 messages in maildrop
		C: RETR
		S: -ERR syntax: RETR <message number> (message numbers start at 1)`, len(msgA)))
}

func TestTOP(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(`
		C: TOP 2 0
		S: +OK top of message 2 follows
		S: Subject: second
		S:
		S: .
		C: TOP 2 2
		S: +OK top of message 2 follows
		S: Subject: second
		S:
		S: line 1
		S: line 2
		S: .
		C: TOP 2 99
		S: +OK top of message 2 follows
		S: Subject: second
		S:
		S: line 1
		S: line 2
		S: line 3
		S: .
		C: TOP 1 2
		S: +OK top of message 1 follows
		S: From: carol@example.org
		S: To: alice@pop.test
		S: Subject: first
		S:
		S: Hello Alice.
		S: ..hidden dot line
		S: .
		C: TOP 1
		S: -ERR syntax: TOP <message number> <lines>
		C: TOP 1 -1
		S: -ERR syntax: TOP <message number> <lines> (lines is a number, 0 or more)`)
}

func TestDELEAndRSET(t *testing.T) {
	t.Parallel()
	e, uids := withMail(t)
	c := e.login(t, "alice", "secret")
	c.converse(fmt.Sprintf(`
		C: DELE 1
		S: +OK message 1 deleted
		C: DELE 1
		S: -ERR message 1 is deleted
		C: RETR 1
		S: -ERR message 1 is deleted
		C: DELE 2
		S: +OK message 2 deleted
		C: STAT
		S: +OK 0 0
		C: RSET
		S: +OK maildrop has 2 messages (%d octets)
		C: DELE 2
		S: +OK message 2 deleted
		C: QUIT
		S: +OK pop.test POP3 server signing off (1 messages deleted)`, len(msgA)+len(msgB)))
	c.expectClosed()
	if got := e.store.uids(t, "alice"); !slices.Equal(got, uids[:1]) {
		t.Errorf("after QUIT the store has %v, want %v", got, uids[:1])
	}
}

func TestNOOP(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.dialTLS(t)
	c.converse(`
		C: NOOP
		S: -ERR log in first with USER and PASS, or AUTH PLAIN`)
	c = e.login(t, "alice", "secret")
	c.converse(`
		C: NOOP
		S: +OK
		C: noop
		S: +OK`)
}

func TestQUIT(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.dialTLS(t)
	c.converse(`
		C: QUIT
		S: +OK pop.test POP3 server signing off`)
	c.expectClosed()
	c = e.login(t, "alice", "secret")
	c.converse(`
		C: QUIT
		S: +OK pop.test POP3 server signing off (0 messages deleted)`)
	c.expectClosed()
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.dialTLS(t)
	c.converse(`
		C: XYZZY
		S: -ERR unknown command; CAPA lists the commands this server knows
		C: APOP alice 0123456789abcdef0123456789abcdef
		S: -ERR unknown command; CAPA lists the commands this server knows
		C:
		S: -ERR unknown command; CAPA lists the commands this server knows`)
	c = e.login(t, "alice", "secret")
	c.converse(`
		C: STLS
		S: -ERR already logged in; STLS is only valid before login
		C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
		S: -ERR already logged in; AUTH is only valid before login`)
}

func TestPipelining(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	c := e.login(t, "alice", "secret")
	c.send("NOOP\r\nSTAT\r\nLIST 2\r\nDELE 2\r\nSTAT")
	c.expect("+OK", fmt.Sprintf("+OK 2 %d", len(msgA)+len(msgB)),
		fmt.Sprintf("+OK 2 %d", len(msgB)), "+OK message 2 deleted", fmt.Sprintf("+OK 1 %d", len(msgA)))
}

func TestDotStuffingAndLineEnds(t *testing.T) {
	t.Parallel()
	e := startServer(t, nil)
	// Bare LF line ends, a lone ".", a line of "..", no final newline.
	e.store.deliver(t, "alice", "Subject: dots\n\n.\n..\n.x\nlast line")
	c := e.login(t, "alice", "secret")
	c.send("RETR 1")
	c.line()
	var got strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got.WriteString(l)
		if l == ".\r\n" {
			break
		}
	}
	want := "Subject: dots\r\n\r\n..\r\n...\r\n..x\r\nlast line\r\n.\r\n"
	if got.String() != want {
		t.Errorf("RETR sent %q, want %q", got.String(), want)
	}
}

func TestInUse(t *testing.T) {
	t.Parallel()
	e, _ := withMail(t)
	first := e.login(t, "alice", "secret")
	second := e.dialTLS(t)
	second.converse(`
		C: USER alice
		S: +OK send PASS
		C: PASS secret
		S: -ERR [IN-USE] mailbox already in use by another POP3 session; try again when it ends
		C: USER bob
		S: +OK send PASS
		C: PASS hunter2
		S: +OK logged in, 0 messages (0 octets)`)
	first.converse(`
		C: QUIT
		S: +OK pop.test POP3 server signing off (0 messages deleted)`)
	first.expectClosed()
	third := e.dialTLS(t)
	third.converse(fmt.Sprintf(`
		C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
		S: +OK logged in, 2 messages (%d octets)`, len(msgA)+len(msgB)))
}
