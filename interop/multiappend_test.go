package interop

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// imapLine is a raw IMAP connection to the binary, logged in.
type imapLine struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialIMAP(t *testing.T, addr string) *imapLine {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l := &imapLine{t: t, c: c, br: bufio.NewReader(c)}
	l.line() // greeting
	l.send(`a LOGIN ` + imaptestUser + ` "` + imaptestPass + `"`)
	l.until("a ")
	return l
}

func (l *imapLine) send(s string) {
	l.t.Helper()
	l.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := l.c.Write([]byte(s + "\r\n")); err != nil {
		l.t.Fatal(err)
	}
}

func (l *imapLine) line() string {
	l.t.Helper()
	l.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	s, err := l.br.ReadString('\n')
	if err != nil {
		l.t.Fatalf("reading from the server: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// until reads lines up to the one starting with prefix (a tag).
func (l *imapLine) until(prefix string) []string {
	l.t.Helper()
	var out []string
	for range 10000 {
		s := l.line()
		out = append(out, s)
		if strings.HasPrefix(s, prefix) {
			return out
		}
	}
	l.t.Fatalf("no line starting %q in %q", prefix, out)
	return nil
}

// TestMultiappendIsAtomic: while one session sends a MULTIAPPEND slowly
// (a pause after each message's data), another session in IDLE and a
// third asking STATUS must never see some of its messages: a command
// whose last message fails (a CATENATE with a URL that names nothing)
// stores none, and one that succeeds shows all of them in one EXISTS.
// Before the messages were staged, each was visible as soon as it was
// read (RFC 3502 asks for all or none).
func TestMultiappendIsAtomic(t *testing.T) {
	srv := startForImaptest(t)
	addr := srv.Addr["imap"]
	app, idler, poller := dialIMAP(t, addr), dialIMAP(t, addr), dialIMAP(t, addr)
	idler.send("s SELECT INBOX")
	idler.until("s ")
	idler.send("i IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	msg := func(i int) string { return fmt.Sprintf("Subject: part %d\r\n\r\nbody %d\r\n", i, i) }
	status := func() string {
		poller.send("p STATUS INBOX (MESSAGES)")
		return poller.until("p ")[0]
	}
	sendSlowly := func(tag, last string) []string {
		app.send(fmt.Sprintf("%s APPEND INBOX {%d}", tag, len(msg(1))))
		for i := 1; i <= 3; i++ {
			if l := app.line(); !strings.HasPrefix(l, "+") {
				t.Fatalf("APPEND message %d: %q, want +", i, l)
			}
			next := fmt.Sprintf(" {%d}", len(msg(i+1)))
			if i == 3 {
				next = last
			}
			app.c.Write([]byte(msg(i)))
			time.Sleep(300 * time.Millisecond) // the message has been read and stored in tmp/
			if got := status(); got != "* STATUS INBOX (MESSAGES 0)" {
				t.Fatalf("after message %d of %s, another session sees %q", i, tag, got)
			}
			app.send(next)
		}
		return app.until(tag + " ")
	}
	bad := sendSlowly("f", ` CATENATE (URL "/INBOX/;UID=999")`)
	if got := bad[len(bad)-1]; !strings.HasPrefix(got, `f NO [BADURL /INBOX/;UID=999]`) {
		t.Fatalf("MULTIAPPEND with a bad URL last: %q", got)
	}
	if got := status(); got != "* STATUS INBOX (MESSAGES 0)" {
		t.Fatalf("after the failed MULTIAPPEND: %q", got)
	}
	good := sendSlowly("g", "")
	if got := good[len(good)-1]; !strings.HasPrefix(got, "g OK [APPENDUID ") || !strings.Contains(got, ":") {
		t.Fatalf("MULTIAPPEND: %q", got)
	}
	if l := idler.line(); l != "* 3 EXISTS" {
		t.Fatalf("the IDLE session saw %q first, want * 3 EXISTS", l)
	}
	if got := status(); got != "* STATUS INBOX (MESSAGES 3)" {
		t.Fatalf("after the MULTIAPPEND: %q", got)
	}
}

// TestCatenateThroughBinary builds a message from new text and parts of
// a stored one, by absolute, server-relative and mailbox-relative URLs.
func TestCatenateThroughBinary(t *testing.T) {
	srv := startForImaptest(t)
	c := dialIMAP(t, srv.Addr["imap"])
	src := "From: a@example.com\r\nSubject: src\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n"
	c.send(fmt.Sprintf("a APPEND INBOX {%d+}\r\n%s", len(src), src))
	ok := c.until("a ")
	var validity string
	fmt.Sscanf(ok[len(ok)-1], "a OK [APPENDUID %s", &validity)
	c.send("s SELECT INBOX")
	c.until("s ")
	hdr := "Subject: new\r\n\r\n"
	user := strings.ReplaceAll(imaptestUser, "@", "%40")
	c.send(fmt.Sprintf(`b APPEND INBOX CATENATE (TEXT {%d+}`+"\r\n%s"+` URL "/INBOX;UIDVALIDITY=%s/;UID=1/;SECTION=1" URL "imap://%s@localhost/INBOX/;UID=1/;SECTION=2.MIME" URL ";UID=1/;SECTION=2/;PARTIAL=0.6")`,
		len(hdr), hdr, validity, user))
	if got := c.until("b "); !strings.HasPrefix(got[len(got)-1], "b OK [APPENDUID") {
		t.Fatalf("CATENATE: %q", got)
	}
	c.send("f FETCH 2 BODY.PEEK[]")
	got := strings.Join(c.until("f "), "\n")
	want := "Subject: new\n\nfirst partContent-Type: text/plain\n\nsecond"
	if !strings.Contains(got, want) {
		t.Errorf("catenated message:\n%s\nwant it to hold %q", got, want)
	}
	c.send(`u APPEND INBOX CATENATE (URL "imap://someone%40else@localhost/INBOX/;UID=1")`)
	if got := c.until("u "); !strings.HasPrefix(got[len(got)-1], "u NO [BADURL imap://someone%40else@localhost/INBOX/;UID=1]") {
		t.Errorf("another user's URL: %q", got)
	}
}
