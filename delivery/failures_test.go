package delivery

import (
	"bufio"
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
)

// wire is what a correct client puts on the wire for body, computed a
// different way from normalize: every CR, LF or CRLF is one line break,
// NUL is gone, and lines starting with a dot get another.
func wire(body string) string {
	body = strings.ReplaceAll(body, "\x00", "")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") {
			lines[i] = "." + l
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n.\r\n"
}

func TestRemoteNeverSendsSmugglingSequences(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/smtp-smuggling/eod-sequences.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if strings.HasPrefix(cols[0], "#") || len(cols) < 3 {
			continue
		}
		seq, err := hex.DecodeString(cols[2])
		if err != nil {
			t.Fatalf("%s: %v", cols[0], err)
		}
		body := "Subject: smuggle\r\n\r\nbefore" + string(seq) + "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\nforged\r\n"
		req := request("s-"+cols[0], "a@dest.test")
		req.Body = []byte(body)
		wantErr(t, r.Deliver(context.Background(), req)[0], mailmsg.Error{})
		n++
		got := string(srv.WaitMessages(t, n, 5*time.Second)[n-1].Raw)
		if want := wire(body); got != want {
			t.Errorf("%s: sent %q, want %q", cols[0], got, want)
		}
		if strings.Count(got, "\r\n.\r\n") != 1 || strings.ContainsRune(got, 0) {
			t.Errorf("%s: sent %q, which holds another end of data or a NUL", cols[0], got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] == '\n' && (i == 0 || got[i-1] != '\r') || got[i] == '\r' && (i+1 == len(got) || got[i+1] != '\n') {
				t.Errorf("%s: bare CR or LF at %d in %q", cols[0], i, got)
				break
			}
		}
	}
	if n < 12 {
		t.Fatalf("read %d sequences, want at least 12", n)
	}
	if msgs := srv.Messages(); len(msgs) != n {
		t.Errorf("server saw %d messages, want %d (a smuggled one would make more)", len(msgs), n)
	}
}

func TestRemoteFailureModes(t *testing.T) {
	t.Parallel()
	short := 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		cfg  smtptest.Config
		req  func(*mailmsg.Attempt)
		want mailmsg.Error
	}{
		{"drop after dot", smtptest.Config{DropAfterDot: true}, nil,
			mailmsg.Error{Code: 451, Enhanced: "4.4.2", Command: mailmsg.CmdData, Reason: "connection lost during DATA"}},
		{"hang after dot", smtptest.Config{Hang: smtptest.HangDot}, nil,
			mailmsg.Error{Code: 451, Enhanced: "4.4.2", Command: mailmsg.CmdData, Reason: "timeout"}},
		{"hang at greeting", smtptest.Config{Hang: smtptest.HangGreeting}, nil,
			mailmsg.Error{Code: 451, Enhanced: "4.4.2", Command: mailmsg.CmdConnect, Reason: "timeout"}},
		{"hang at RCPT", smtptest.Config{Hang: smtptest.HangRcpt}, nil,
			mailmsg.Error{Code: 451, Enhanced: "4.4.2", Command: mailmsg.CmdRcpt, Reason: "timeout"}},
		{"554 after dot", smtptest.Config{DataReplies: []string{"554 5.7.1 spam\r\n"}}, nil,
			mailmsg.Error{Permanent: true, Code: 554, Enhanced: "5.7.1", Command: mailmsg.CmdData}},
		{"452 at MAIL", smtptest.Config{MailReply: "452 4.3.1 insufficient storage"}, nil,
			mailmsg.Error{Code: 452, Enhanced: "4.3.1", Command: mailmsg.CmdMail, RemoteLine: "452 4.3.1 insufficient storage"}},
		{"no enhanced code", smtptest.Config{MailReply: "550 go away"}, nil,
			mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.0.0", Command: mailmsg.CmdMail, RemoteLine: "550 go away"}},
		{"needs SMTPUTF8", smtptest.Config{Extensions: []string{"8BITMIME"}}, func(r *mailmsg.Attempt) { r.UTF8 = true },
			mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.6.7", Command: mailmsg.CmdMail, Reason: "does not offer it"}},
		{"needs 8BITMIME", smtptest.Config{Extensions: []string{"SMTPUTF8"}}, func(r *mailmsg.Attempt) { r.EightBit = true },
			mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.6.3", Command: mailmsg.CmdMail, Reason: "8BITMIME"}},
		{"needs REQUIRETLS", smtptest.Config{STARTTLS: true}, func(r *mailmsg.Attempt) { r.RequireTLS = true },
			mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, Reason: "certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.Start(t, tc.cfg)
			dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
			r, _, _ := newRemote(t, dns, srv.Port())
			r.Timeouts = Timeouts{Connect: short, Greeting: short, Mail: short, Rcpt: short, DataInit: short, DataBlock: short, DataEnd: short}
			req := request("f1", "a@dest.test", "b@dest.test")
			if tc.req != nil {
				tc.req(req)
			}
			for _, res := range r.Deliver(context.Background(), req) {
				wantErr(t, res, tc.want)
			}
		})
	}
}

func TestRemoteRequireTLS(t *testing.T) {
	t.Parallel()
	plain := smtptest.Start(t, smtptest.Config{Hostname: "mx.dest.test"})
	tlsSrv := smtptest.Start(t, smtptest.Config{Hostname: "mx.dest.test", STARTTLS: true, Extensions: []string{"REQUIRETLS"}})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")

	r, _, _ := newRemote(t, dns, plain.Port())
	r.RequireTLS = []string{"dest.test"}
	wantErr(t, r.Deliver(context.Background(), request("t1", "a@dest.test"))[0],
		mailmsg.Error{Code: 451, Enhanced: "4.7.10", Command: mailmsg.CmdTLS, RemoteMTA: "mx.dest.test", Reason: "does not offer STARTTLS"})
	if len(plain.Messages()) != 0 {
		t.Error("message sent in clear to a require_tls domain")
	}

	r, _, _ = newRemote(t, dns, tlsSrv.Port())
	r.RequireTLS = []string{"dest.test"}
	wantErr(t, r.Deliver(context.Background(), request("t2", "a@dest.test"))[0],
		mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS, Reason: "certificate signed by unknown authority"})

	r, _, _ = newRemote(t, dns, tlsSrv.Port())
	r.RootCAs = tlsSrv.CertPool()
	req := request("t3", "a@dest.test")
	req.RequireTLS = true
	wantErr(t, r.Deliver(context.Background(), req)[0], mailmsg.Error{})
	m := tlsSrv.WaitMessages(t, 1, 5*time.Second)[0]
	if !m.TLS || !strings.Contains(m.MailParams, "REQUIRETLS") {
		t.Errorf("TLS=%v params=%q, want TLS with REQUIRETLS", m.TLS, m.MailParams)
	}
	if n := counter(t, r.Metrics.connections.WithLabelValues("remote", "verified")); n != 1 {
		t.Errorf("verified connections = %v, want 1", n)
	}
}

func TestRemoteFallsBackToPlainWhenTLSBreaks(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{STARTTLS: true, BrokenTLS: true})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	wantErr(t, r.Deliver(context.Background(), request("b1", "a@dest.test"))[0], mailmsg.Error{})
	if m := srv.WaitMessages(t, 1, 5*time.Second)[0]; m.TLS || srv.Connections() != 2 {
		t.Errorf("TLS=%v after %d connections, want plain text on the second", m.TLS, srv.Connections())
	}
	if n := counter(t, r.Metrics.connections.WithLabelValues("remote", "none")); n != 1 {
		t.Errorf("plain connections = %v, want 1", n)
	}
}

func TestRemoteIdleConnectionIsClosed(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	r.IdleTimeout = 50 * time.Millisecond
	wantErr(t, r.Deliver(context.Background(), request("i1", "a@dest.test"))[0], mailmsg.Error{})
	srv.WaitCommand(t, "QUIT", 5*time.Second)
	wantErr(t, r.Deliver(context.Background(), request("i2", "a@dest.test"))[0], mailmsg.Error{})
	if srv.Connections() != 2 {
		t.Errorf("%d connections, want a new one after the idle one was closed", srv.Connections())
	}
}

func TestRemoteStopsOnCancel(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{Hang: smtptest.HangDot})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	r.Timeouts.DataEnd = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []mailmsg.Result)
	go func() { done <- r.Deliver(ctx, request("c1", "a@dest.test")) }()
	srv.WaitMessages(t, 1, 5*time.Second)
	cancel()
	select {
	case res := <-done:
		wantErr(t, res[0], mailmsg.Error{Code: 451, Enhanced: "4.4.2", Command: mailmsg.CmdData})
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver did not return after cancel")
	}
}
