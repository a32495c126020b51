package loadgen

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgate/internal/testenv"
)

// startSink starts a sink on loopback that saves into a temporary
// directory, closed when the test ends.
func startSink(t *testing.T) (*Sink, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := StartSink(SinkOptions{Addr: "127.0.0.1:0", MaxDuration: time.Minute, SaveDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, dir
}

// saved returns the messages in dir, sorted.
func saved(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// rawSession dials the sink and returns a function that reads n reply
// lines.
func rawSession(t *testing.T, addr string) (net.Conn, func(n int) []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	return c, func(n int) []string {
		t.Helper()
		var lines []string
		for range n {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", lines, err)
			}
			lines = append(lines, strings.TrimSuffix(l, "\r\n"))
		}
		return lines
	}
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: replies\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSinkPipelining sends two whole transactions in one write, as a
// pipelining client that does not wait for 354 might, and checks every
// reply line and the bytes saved.
func TestSinkPipelining(t *testing.T) {
	t.Parallel()
	s, dir := startSink(t)
	c, read := rawSession(t, s.Addr())
	wantLines(t, "greeting", read(1), []string{"220 sink.localhost ESMTP"})
	if _, err := c.Write([]byte("EHLO client.localhost\r\n")); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "EHLO", read(6), []string{
		"250-sink.localhost", "250-PIPELINING", "250-8BITMIME", "250-SIZE 67108864",
		"250-ENHANCEDSTATUSCODES", "250 SMTPUTF8"})
	batch := "MAIL FROM:<a@client.localhost> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<b@sink.localhost>\r\n" +
		"RCPT TO:<c@sink.localhost>\r\nDATA\r\n" +
		"Subject: one\r\n\r\n..leading dot\r\n...two dots\r\nlast line\r\n.\r\n" +
		"MAIL FROM:<>\r\nRCPT TO:<d@sink.localhost>\r\nDATA\r\n" +
		"Subject: two\r\n\r\nno end of line\r\n.\r\n" +
		"RSET\r\nNOOP\r\nQUIT\r\n"
	if _, err := c.Write([]byte(batch)); err != nil {
		t.Fatal(err)
	}
	data := "354 send the message, end it with <CRLF>.<CRLF>"
	wantLines(t, "pipelined batch", read(12), []string{
		"250 2.1.0 sender OK", "250 2.1.5 recipient OK", "250 2.1.5 recipient OK", data,
		"250 2.0.0 message accepted",
		"250 2.1.0 sender OK", "250 2.1.5 recipient OK", data, "250 2.0.0 message accepted",
		"250 2.0.0 OK", "250 2.0.0 OK", "221 2.0.0 bye"})
	want := []string{
		"Subject: one\r\n\r\n.leading dot\r\n..two dots\r\nlast line\r\n",
		"Subject: two\r\n\r\nno end of line\r\n",
	}
	if got := saved(t, dir); !slices.Equal(got, want) {
		t.Fatalf("saved %q; want %q", got, want)
	}
	st := s.Stats()
	if st.Messages != 2 || st.Bytes != int64(len(want[0])+len(want[1])) {
		t.Fatalf("sink counted %d messages, %d bytes; want 2, %d", st.Messages, st.Bytes, len(want[0])+len(want[1]))
	}
}

// TestSinkRefusesOutOfOrder checks each refusal's exact reply on one
// connection, and that the session still works afterwards.
func TestSinkRefusesOutOfOrder(t *testing.T) {
	t.Parallel()
	s, dir := startSink(t)
	c, read := rawSession(t, s.Addr())
	read(1)
	for _, step := range []struct{ cmd, reply string }{
		{"MAIL FROM:<a@x>", "503 5.5.1 send EHLO or HELO first"},
		{"HELO client.localhost", "250 sink.localhost"},
		{"RCPT TO:<b@sink.localhost>", "503 5.5.1 send MAIL FROM first"},
		{"DATA", "503 5.5.1 send MAIL FROM first"},
		{"MAIL TO:<a@x>", "501 5.5.4 syntax: MAIL FROM:<address>"},
		{"mail from:<a@x>", "250 2.1.0 sender OK"},
		{"MAIL FROM:<a@x>", "503 5.5.1 a transaction is open: send RSET before a new MAIL"},
		{"DATA", "503 5.5.1 send RCPT TO first"},
		{"RCPT FROM:<b@x>", "501 5.5.4 syntax: RCPT TO:<address>"},
		{"VRFY b", "502 5.5.1 command not implemented: the sink knows EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT"},
		{"STARTTLS", "502 5.5.1 command not implemented: the sink knows EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT"},
		{"BDAT 10 LAST", "502 5.5.1 command not implemented: the sink knows EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT"},
		{"EHLO", "501 5.5.4 syntax: EHLO domain"},
		{"RSET", "250 2.0.0 OK"},
		{"RCPT TO:<b@sink.localhost>", "503 5.5.1 send MAIL FROM first"},
		{"MAIL FROM:<a@x>", "250 2.1.0 sender OK"},
		{"rcpt to:<b@sink.localhost>", "250 2.1.5 recipient OK"},
		{"DATA", "354 send the message, end it with <CRLF>.<CRLF>"},
		{"hello\r\n.", "250 2.0.0 message accepted"},
		{"QUIT", "221 2.0.0 bye"},
	} {
		if _, err := c.Write([]byte(step.cmd + "\r\n")); err != nil {
			t.Fatal(err)
		}
		wantLines(t, step.cmd, read(1), []string{step.reply})
	}
	if got := saved(t, dir); !slices.Equal(got, []string{"hello\r\n"}) {
		t.Fatalf("saved %q; want the one message", got)
	}
}

// TestSinkSmtplib has Python's smtplib, a real client, send through the
// sink: EHLO features, a message with dotted lines, RSET and NOOP.
func TestSinkSmtplib(t *testing.T) {
	t.Parallel()
	py := testenv.Tool(t, "python3")
	s, dir := startSink(t)
	host, port, _ := net.SplitHostPort(s.Addr())
	script := `
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="client.localhost", timeout=30)
code, _ = s.ehlo()
print(code, sorted(s.esmtp_features))
msg = b"From: a@client.localhost\r\nSubject: py\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n"
print(s.sendmail("a@client.localhost", ["b@sink.localhost", "c@sink.localhost"], msg, mail_options=["SMTPUTF8"]))
print(s.rset())
print(s.noop())
print(s.verify("b"))
print(s.quit())
`
	out, err := exec.Command(py, "-c", script, host, port).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s", err, out)
	}
	want := `250 ['8bitmime', 'enhancedstatuscodes', 'pipelining', 'size', 'smtputf8']
{}
(250, b'2.0.0 OK')
(250, b'2.0.0 OK')
(502, b'5.5.1 command not implemented: the sink knows EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT')
(221, b'2.0.0 bye')
`
	if string(out) != want {
		t.Fatalf("smtplib printed\n%s\nwant\n%s", out, want)
	}
	msg := "From: a@client.localhost\r\nSubject: py\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n"
	if got := saved(t, dir); !slices.Equal(got, []string{msg}) {
		t.Fatalf("saved %q; want %q", got, msg)
	}
}

// TestSendDotLines checks that lines starting with "." arrive byte-exact
// after the sender's stuffing, on new and on reused connections.
func TestSendDotLines(t *testing.T) {
	t.Parallel()
	body := ".first\r\n..second\r\n.\r\nplain\r\n.last"
	for _, reuse := range []bool{false, true} {
		s, dir := startSink(t)
		res, err := Send(SendOptions{Addr: s.Addr(), N: 3, Concurrency: 1, Reuse: reuse,
			From: "a@localhost", To: []string{"b@sink.localhost", "c@sink.localhost"}, body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 3 || res.Failed != 0 {
			t.Fatalf("reuse=%v: sent %d failed %d (%v); want 3, 0", reuse, res.Sent, res.Failed, res.Errors)
		}
		msgs := saved(t, dir)
		if len(msgs) != 3 {
			t.Fatalf("reuse=%v: %d messages saved; want 3", reuse, len(msgs))
		}
		for _, m := range msgs {
			head, got, ok := strings.Cut(m, "\r\n\r\n")
			if !ok || got != body+"\r\n" {
				t.Errorf("reuse=%v: body %q; want %q", reuse, got, body+"\r\n")
			}
			if !strings.HasPrefix(head, "From: <a@localhost>\r\nTo: <b@sink.localhost>\r\nSubject: loadgen message ") ||
				!strings.Contains(head, "@loadgen.localhost>\r\nDate: ") {
				t.Errorf("reuse=%v: header %q", reuse, head)
			}
		}
	}
}

// TestSinkStopsAfterMaxMessages checks that the last message's reply goes
// out, then the sink closes the connection the client keeps open, stops
// and takes no more connections.
func TestSinkStopsAfterMaxMessages(t *testing.T) {
	t.Parallel()
	s, err := StartSink(SinkOptions{Addr: "127.0.0.1:0", MaxMessages: 1, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, read := rawSession(t, s.Addr())
	read(1)
	c.Write([]byte("HELO c.localhost\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"))
	read(4)
	c.Write([]byte("only\r\n.\r\n"))
	wantLines(t, "end of data", read(1), []string{"250 2.0.0 message accepted"})
	// The client keeps the connection, as a connection cache does; the
	// sink closes it (after a second) and stops.
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes after the last message; want the connection closed", n)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("sink not done 10 s after the last message")
	}
	if c2, err := net.Dial("tcp", s.Addr()); err == nil {
		c2.Close()
		t.Fatal("sink accepted a connection after it stopped")
	}
	if st := s.Stats(); st.Messages != 1 || st.Bytes != 6 {
		t.Fatalf("sink counted %d messages, %d bytes; want 1, 6", st.Messages, st.Bytes)
	}
}
