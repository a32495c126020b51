package faults

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// eodSequences reads the shared SMTP smuggling set (name -> bytes).
func eodSequences(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("../relay/testdata/smtp-smuggling/eod-sequences.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 || strings.HasPrefix(cols[0], "#") {
			continue
		}
		b, err := hex.DecodeString(cols[2])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{cols[0], string(b)})
	}
	if len(out) < 12 {
		t.Fatalf("only %d smuggling sequences", len(out))
	}
	return out
}

// TestSmugglingEndToEnd submits, for every fake end-of-data sequence of
// the shared set, a message that hides a second transaction behind it,
// through the real binary to a recording sink. Either mailgate refuses
// the message, or what reaches the next hop — checked byte for byte —
// holds no bare CR or LF and ends only at the real end, so the sink can
// never see a smuggled transaction. Either way the sink sees no message
// for the smuggled recipient.
func TestSmugglingEndToEnd(t *testing.T) {
	t.Parallel()
	w := startSinkWorld(t, smtptestPolite(), "")
	seqs := eodSequences(t)
	rejected, relayed := 0, 0
	for _, s := range seqs {
		name, seq := s[0], s[1]
		msg := "From: " + user + "\r\nTo: " + sinkRcp + "\r\nSubject: smuggle " + name + "\r\nX-Fault-Token: smuggle-" + name + "\r\n\r\nfirst part" +
			seq + "MAIL FROM:<" + user + ">\r\nRCPT TO:<victim@sink.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n"
		reply := rawSubmit(t, w.srv, sinkRcp, msg)
		switch {
		case strings.HasPrefix(reply, "250 "):
			relayed++
		case strings.HasPrefix(reply, "5"), reply == "":
			rejected++ // refused, or the connection closed on it
		default:
			t.Errorf("%s: neither accepted nor refused with 5xx: %q", name, reply)
		}
	}
	// Inbound on the MX port, for a local mailbox: refused as well.
	for _, s := range seqs {
		c, err := net.Dial("tcp", w.srv.Addr["smtp"])
		if err != nil {
			t.Fatal(err)
		}
		reply := rawSession(t, c, false, user, "Subject: mx "+s[0]+"\r\n\r\nx"+s[1]+"MAIL FROM:<a@b.test>\r\n")
		c.Close()
		if reply != "" && !strings.HasPrefix(reply, "5") {
			t.Errorf("MX, %s: %q, want a 5xx refusal", s[0], reply)
		} else {
			rejected++
		}
	}
	// A final clean message marks the end: once it arrived, everything
	// accepted before it has been delivered (one destination, in order
	// of the queue is not guaranteed, so wait for the count).
	submit(t, w.srv, sinkRcp, faultMessage("smuggle-end", 1))
	msgs := w.sink.WaitMessages(t, relayed+1, mgtestTimeout)
	for _, m := range msgs {
		for _, r := range m.Rcpts {
			if r != sinkRcp {
				t.Errorf("the sink got a transaction for %q: smuggled", r)
			}
		}
		body := m.Raw[:len(m.Raw)-len("\r\n.\r\n")]
		if i := bytes.Index(body, []byte("\r\n.\r\n")); i >= 0 {
			t.Errorf("relayed message holds an end of data before its end:\n%q", m.Raw)
		}
		for i, b := range body {
			if (b == '\r' && (i+1 >= len(body) || body[i+1] != '\n')) || (b == '\n' && (i == 0 || body[i-1] != '\r')) {
				t.Errorf("relayed message holds a bare CR or LF at byte %d: %q", i, body[max(0, i-20):min(len(body), i+20)])
				break
			}
		}
	}
	report(t, "sequences=%d (x2: submission to a remote, MX to a local mailbox) refused=%d relayed-clean=%d smuggled=0", len(seqs), rejected, relayed)
}

// TestDotStuffingToNextHop: lines that are or start with a dot reach the
// next hop dot-stuffed, so that no line of the message ends the remote's
// DATA early, and unstuff to the message sent.
func TestDotStuffingToNextHop(t *testing.T) {
	t.Parallel()
	w := startSinkWorld(t, smtptestPolite(), "")
	msg := "From: " + user + "\r\nTo: " + sinkRcp + "\r\nX-Fault-Token: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n.\r\n"
	submit(t, w.srv, sinkRcp, msg)
	m := w.sink.WaitMessages(t, 1, mgtestTimeout)[0]
	if !bytes.HasSuffix(m.Raw, []byte("\r\n\r\n..\r\n...\r\n..x\r\nend\r\n..\r\n.\r\n")) {
		t.Errorf("next hop got %q", m.Raw)
	}
	if got := string(dotUnstuff(m.Raw)); !strings.HasSuffix(got, msg) {
		t.Errorf("unstuffed message %q, want suffix %q", got, msg)
	}
}

// rawSubmit logs in over implicit TLS and sends msg as the DATA bytes
// exactly as given (a library client would turn bare LF into CRLF),
// followed by the real end of data. It returns the reply to the final
// dot, or "" if the server closed the connection instead.
func rawSubmit(t *testing.T, srv *mgtest.Server, to, msg string) string {
	t.Helper()
	c, err := tls.Dial("tcp", srv.Addr["submissions"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	return rawSession(t, c, true, to, msg)
}

// rawSession is rawSubmit on an open connection; auth logs in first.
func rawSession(t *testing.T, c net.Conn, auth bool, to, msg string) string {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return ""
			}
			last = strings.TrimRight(l, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	step := func(cmd, want string) {
		if cmd != "" {
			c.Write([]byte(cmd + "\r\n"))
		}
		if got := reply(); !strings.HasPrefix(got, want) {
			t.Fatalf("%q: got %q, want %s", cmd, got, want)
		}
	}
	step("", "220")
	step("EHLO client.test", "250")
	if auth {
		step("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)), "235")
	}
	step("MAIL FROM:<"+user+">", "250")
	step("RCPT TO:<"+to+">", "250")
	step("DATA", "354")
	c.Write([]byte(msg + "\r\n.\r\n"))
	return reply()
}
