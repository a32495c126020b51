package relay_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/internal/mailmsg"
)

// received is the Received header the relay must put on top, per RFC 5321
// section 4.4, with the test clock's date.
func received(id, with string, tlsState *tls.ConnectionState, account, forRcpt string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from client.example.net ([127.0.0.1])\r\n\tby mail.example.com (mailgate) with %s id %s", with, id)
	if tlsState != nil {
		fmt.Fprintf(&b, "\r\n\t(version=%s cipher=%s)", tls.VersionName(tlsState.Version), tls.CipherSuiteName(tlsState.CipherSuite))
	}
	if account != "" {
		fmt.Fprintf(&b, "\r\n\t(authenticated as %s)", account)
	}
	if forRcpt != "" {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", forRcpt)
	}
	b.WriteString(";\r\n\tWed, 04 Mar 2026 05:06:07 +0000\r\n")
	return b.String()
}

// submit sends msg with go-smtp's client on an open connection and
// returns the queue ID from the 250 reply.
func submit(t *testing.T, c *smtp.Client, from string, mo *smtp.MailOptions, rcpts map[string]*smtp.RcptOptions, msg string) string {
	t.Helper()
	if err := c.Mail(from, mo); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, r := range sortedKeys(rcpts) {
		if err := c.Rcpt(r, rcpts[r]); err != nil {
			t.Fatalf("RCPT %s: %v", r, err)
		}
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := wc.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		t.Fatalf("end of DATA: %v", err)
	}
	// go-smtp's client keeps the enhanced code in the text.
	id, ok := strings.CutPrefix(resp.StatusText, "2.0.0 OK: queued as ")
	if !ok {
		t.Fatalf("250 text %q, want 2.0.0 OK: queued as ID", resp.StatusText)
	}
	return id
}

func sortedKeys(m map[string]*smtp.RcptOptions) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys { // tiny n: insertion sort keeps imports short
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// TestSubmissionSTARTTLS: an application logs in on submission after
// STARTTLS and sends to a local and a remote recipient with DSN options.
func TestSubmissionSTARTTLS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, err := smtp.DialStartTLS(ts.addr["submission"], ts.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", alice, password)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	msg := message("dsn test")
	mo := &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-42", Body: smtp.Body8BitMIME}
	rcpts := map[string]*smtp.RcptOptions{
		bob: {Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
			OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "Bob+orig@example.com"},
		"carol@remote.example": {Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}},
	}
	id := submit(t, c, alice, mo, rcpts, msg)
	state, _ := c.TLSConnectionState()

	env, raw := ts.spooled(id)
	if want := received(id, "ESMTPSA", &state, alice, "") + msg; string(raw) != want {
		t.Errorf("spooled message:\n%q\nwant:\n%q", raw, want)
	}
	want := &mailmsg.Envelope{
		ID: id, From: alice, Received: start, ClientIP: "127.0.0.1", Helo: "client.example.net",
		Listener: "submission", Account: alice, EightBit: true, Ret: "HDRS", EnvID: "env-42",
		Recipients: []mailmsg.Recipient{
			{Addr: bob, Notify: []string{"SUCCESS", "FAILURE"}, ORCPT: "RFC822;Bob+orig@example.com"},
			{Addr: "carol@remote.example", Notify: []string{"NEVER"}},
		},
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("envelope:\n got %+v\nwant %+v", env, want)
	}
	if strings.Contains(string(raw), password) {
		t.Error("the password is in the spool file")
	}
}

// TestSubmissionsImplicitTLS: the same over port 465-style implicit TLS,
// with AUTH LOGIN and SMTPUTF8.
func TestSubmissionsImplicitTLS(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	c, err := smtp.DialTLS(ts.addr["submissions"], ts.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(loginClient{alice, password}); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	msg := "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße\r\n"
	id := submit(t, c, alice, &smtp.MailOptions{UTF8: true}, map[string]*smtp.RcptOptions{"jürgen@remote.example": nil}, msg)
	state, _ := c.TLSConnectionState()
	env, raw := ts.spooled(id)
	if want := received(id, "UTF8SMTPSA", &state, alice, "jürgen@remote.example") + msg; string(raw) != want {
		t.Errorf("spooled message:\n%q\nwant:\n%q", raw, want)
	}
	if !env.UTF8 || env.Listener != "submissions" || env.Account != alice {
		t.Errorf("envelope %+v", env)
	}
}

// loginClient speaks AUTH LOGIN, which go-sasl's client side lacks.
type loginClient struct{ user, pass string }

func (l loginClient) Start() (string, []byte, error) { return "LOGIN", nil, nil }
func (l loginClient) Next(challenge []byte) ([]byte, error) {
	switch string(challenge) {
	case "Username:":
		return []byte(l.user), nil
	case "Password:":
		return []byte(l.pass), nil
	}
	return nil, fmt.Errorf("unexpected challenge %q", challenge)
}

// TestMXAccepts: a remote server delivers to a local user without AUTH;
// the exact 250 line, the Received header and the dot-unstuffed body.
func TestMXAccepts(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must("MAIL FROM:<> BODY=8BITMIME", "250")
	w.must("RCPT TO:<Bob+Lists@example.com>", "250")
	w.must("DATA", "354")
	// A line that is a lone dot is sent stuffed ("..") and stored as ".".
	got := w.cmd("Subject: dots\r\n\r\n..\r\n...more\r\nend\r\n.")
	id := queuedID(t, got)
	env, raw := ts.spooled(id)
	// The account's address (lower-cased by the account lookup) with the
	// tag as given (it names a folder) is the recipient; case alone does
	// not make it an alias.
	want := received(id, "ESMTP", nil, "", "bob+Lists@example.com") + "Subject: dots\r\n\r\n.\r\n..more\r\nend\r\n"
	if string(raw) != want {
		t.Errorf("spooled:\n%q\nwant:\n%q", raw, want)
	}
	if env.From != "" || len(env.Recipients) != 1 || env.Recipients[0].Addr != "bob+Lists@example.com" || env.Recipients[0].Orig != "" {
		t.Errorf("envelope %+v", env)
	}
	// The session goes on: a second transaction on the same connection.
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	if id2 := queuedID(t, w.cmd(message("second")+".")); id2 == id {
		t.Errorf("two messages got the same queue ID %s", id)
	}
	w.must("QUIT", "221")
}

// TestBDAT: CHUNKING, with a chunk boundary inside a CRLF.
func TestBDAT(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("submission", true, true)
	w.must("MAIL FROM:<alice@example.com>", "250")
	w.must("RCPT TO:<carol@remote.example>", "250")
	msg := message("chunked")
	cut := strings.Index(msg, "\n") // first chunk ends with a lone CR
	w.write(fmt.Sprintf("BDAT %d\r\n%s", cut, msg[:cut]))
	if got := w.reply(); got != "250 2.0.0 Continue" {
		t.Fatalf("first chunk: %q", got)
	}
	rest := msg[cut:]
	w.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(rest), rest))
	id := queuedID(t, w.reply())
	_, raw := ts.spooled(id)
	if !strings.HasSuffix(string(raw), ")\r\n\tfor <carol@remote.example>;\r\n\tWed, 04 Mar 2026 05:06:07 +0000\r\n"+msg) {
		t.Errorf("spooled:\n%q", raw)
	}
}

// TestEHLO: what each listener advertises, before and after TLS. AUTH is
// offered only on submission ports and only over TLS.
func TestEHLO(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	common := "250-PIPELINING\n250-8BITMIME\n250-ENHANCEDSTATUSCODES\n250-CHUNKING\n"
	tail := "250-DSN\n250-SIZE 4096\n250 LIMITS RCPTMAX=3"
	tests := []struct {
		listener string
		secure   bool
		want     string
	}{
		{"mx", false, common + "250-STARTTLS\n250-SMTPUTF8\n" + tail},
		{"mx", true, common + "250-SMTPUTF8\n250-REQUIRETLS\n" + tail},
		{"submission", false, common + "250-STARTTLS\n250-SMTPUTF8\n" + tail},
		{"submission", true, common + "250-AUTH PLAIN LOGIN\n250-SMTPUTF8\n250-REQUIRETLS\n" + tail},
		{"submissions", true, common + "250-AUTH PLAIN LOGIN\n250-SMTPUTF8\n250-REQUIRETLS\n" + tail},
	}
	for _, tc := range tests {
		w := ts.session(tc.listener, tc.secure, false)
		want := "250-Hello client.example.net\n" + tc.want
		if got := w.ehlo(); got != want {
			t.Errorf("%s (TLS %v) EHLO:\n%s\nwant:\n%s", tc.listener, tc.secure, got, want)
		}
	}
}

// TestAuthLockoutEnds: the lockout holds across connections for
// auth.lockout, then the right password works again.
func TestAuthLockoutEnds(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	if got := throttled(t, ts); got != authLocked {
		t.Fatalf("after 3 failures: %q", got)
	}
	ts.clock.Advance(59 * time.Minute)
	if got := ts.session("submissions", true, false).cmd("AUTH PLAIN " + plain(alice, password)); got != authLocked {
		t.Fatalf("59 minutes later: %q, want still locked", got)
	}
	ts.clock.Advance(time.Minute)
	if got := ts.session("submissions", true, false).cmd("AUTH PLAIN " + plain(alice, password)); got != "235 2.0.0 Authentication succeeded" {
		t.Fatalf("after the lockout: %q", got)
	}
	// Failures are logged for fail2ban, passwords never.
	logs := ts.logs.String()
	if n := strings.Count(logs, `msg="auth failure" session=`); n != 3 {
		t.Errorf("%d auth failure lines, want 3", n)
	}
	for _, secret := range []string{"guess", password, plain(alice, "guess")} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
}

// TestAuthDelay: each failure is answered only after auth.delay.
func TestAuthDelay(t *testing.T) {
	t.Parallel()
	ts := startServer(t, func(c *config.Config) { c.Auth.Delay = config.Duration(300 * time.Millisecond) })
	w := ts.session("submissions", true, false)
	begin := time.Now()
	w.must("AUTH PLAIN "+plain(alice, "wrong"), "535")
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("failure answered after %v, want at least auth.delay (300ms)", d)
	}
}

// TestOverlongDataLineCloses: after the 500 for the DATA line, the
// connection is closed rather than reading the rest as commands.
func TestOverlongDataLineCloses(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	w.write("Subject: x\r\n\r\n" + strings.Repeat("y", 1200) + "\r\nRSET\r\n.\r\n")
	if got := w.reply(); !strings.HasPrefix(got, "500 5.5.2 Line too long") {
		t.Fatalf("got %q", got)
	}
	if got := w.reply(); got != "500 5.4.0 Too long line, closing connection" {
		t.Errorf("then %q", got)
	}
	if got := w.reply(); got != closed {
		t.Errorf("then %q, want the connection closed", got)
	}
}

// TestReceivedIPv6: a client on ::1 is written as an RFC 5321 IPv6
// address literal in the Received header.
func TestReceivedIPv6(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	go ts.srv.Serve(ts.cfg.Listeners[0], ln) // ended by the harness's Shutdown
	w, _ := dial(t, ln.Addr().String())
	w.ehlo()
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	id := queuedID(t, w.cmd(message("v6")+"."))
	_, raw := ts.spooled(id)
	if want := "Received: from client.example.net ([IPv6:::1])\r\n\tby mail.example.com (mailgate) with ESMTP id " + id + "\r\n"; !strings.HasPrefix(string(raw), want) {
		t.Errorf("spooled:\n%.200q\nwant prefix %q", raw, want)
	}
}

// TestDuplicateRecipients: the same recipient given twice, in any case,
// is stored once, so it is delivered once.
func TestDuplicateRecipients(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	w.must(rcptBob, "250")
	w.must("RCPT TO:<BOB@example.com>", "250")
	w.must("RCPT TO:<alice@example.com>", "250")
	w.must("DATA", "354")
	env, _ := ts.spooled(queuedID(t, w.cmd(message("twice")+".")))
	var got []string
	for _, r := range env.Recipients {
		got = append(got, r.Addr)
	}
	if strings.Join(got, ",") != bob+","+alice {
		t.Errorf("recipients %v, want [%s %s]", got, bob, alice)
	}
}

// TestReceivedForAlias: mail to an alias names the alias in the Received
// header's "for" clause, and the envelope keeps both addresses.
func TestReceivedForAlias(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("mx", false, false)
	w.must(mailFrom, "250")
	w.must("RCPT TO:<"+bobAlias+">", "250")
	w.must("DATA", "354")
	msg := message("alias")
	id := queuedID(t, w.cmd(msg+"."))
	env, raw := ts.spooled(id)
	if want := received(id, "ESMTP", nil, "", bobAlias) + msg; string(raw) != want {
		t.Errorf("spooled:\n%q\nwant:\n%q", raw, want)
	}
	if len(env.Recipients) != 1 || env.Recipients[0].Addr != bob || env.Recipients[0].Orig != bobAlias {
		t.Errorf("recipients %+v", env.Recipients)
	}
}
