package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
)

func TestRemoteDeliversOverSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{STARTTLS: true, Extensions: []string{"8BITMIME", "SMTPUTF8", "DSN"}})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, logs, reg := newRemote(t, dns, srv.Port())
	req := request("q1", "a@dest.test", "b@dest.test")
	req.Body = []byte("Subject: x\n\n.leading dot\nbare lf\r\nend")
	req.Recipients[0].Notify = []string{"FAILURE", "DELAY"}
	req.Recipients[0].ORCPT = "rfc822;orig@dest.test"
	req.Ret, req.EnvID = "HDRS", "env1"
	res := r.Deliver(context.Background(), req)
	for _, x := range res {
		wantErr(t, x, mailmsg.Error{})
	}
	m := srv.WaitMessages(t, 1, 5*time.Second)[0]
	if want := "Subject: x\r\n\r\n..leading dot\r\nbare lf\r\nend\r\n.\r\n"; string(m.Raw) != want {
		t.Errorf("sent %q, want %q", m.Raw, want)
	}
	if !m.TLS || m.Helo != "out.mailgate.test" {
		t.Errorf("TLS=%v helo=%q, want TLS and out.mailgate.test", m.TLS, m.Helo)
	}
	if got := srv.Commands()[0]; got != "EHLO out.mailgate.test" {
		t.Errorf("first command %q, want EHLO out.mailgate.test", got)
	}
	if m.MailParams != "BODY=8BITMIME RET=HDRS ENVID=env1" {
		t.Errorf("MAIL params %q", m.MailParams)
	}
	if m.RcptParams[0] != "NOTIFY=FAILURE,DELAY ORCPT=RFC822;orig@dest.test" {
		t.Errorf("RCPT params %q", m.RcptParams[0])
	}
	if n := counter(t, r.Metrics.connections.WithLabelValues("remote", "unverified")); n != 1 {
		t.Errorf("unverified TLS connections = %v, want 1", n)
	}
	if n := counter(t, r.Metrics.attempts.WithLabelValues("remote", "delivered")); n != 2 {
		t.Errorf("delivered attempts = %v, want 2", n)
	}
	if mf, _ := reg.Gather(); len(mf) == 0 || mf[0].GetName() != "mailgate_delivery_attempts_total" {
		t.Error("metrics not registered")
	}
	if n := strings.Count(logs.String(), "msg=\"delivery attempt\" msgid=q1 "); n != 2 {
		t.Errorf("log has %d attempt lines for q1, want 2:\n%s", n, logs)
	}
}

func TestRemotePipelines(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{
		Extensions:  []string{"PIPELINING", "8BITMIME", "SIZE 1000000", "DSN", "SMTPUTF8"},
		RcptReplies: map[string][]string{"gone@dest.test": {"550-5.1.1 no such\r\n550 5.1.1 user"}},
	})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	req := request("p1", "a@dest.test", "gone@dest.test", "b@dest.test")
	req.UTF8, req.Ret, req.EnvID = true, "FULL", "id+1=2"
	req.Recipients[0].Notify = []string{"SUCCESS"}
	req.Recipients[0].ORCPT = "rfc822;o+a@dest.test"
	res := r.Deliver(context.Background(), req)
	wantErr(t, res[0], mailmsg.Error{})
	wantErr(t, res[1], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: mailmsg.CmdRcpt, RemoteLine: "550 5.1.1 no such user"})
	wantErr(t, res[2], mailmsg.Error{})
	m := srv.WaitMessages(t, 1, 5*time.Second)[0]
	if !m.Pipelined {
		t.Error("MAIL and RCPT were not pipelined")
	}
	if want := "BODY=8BITMIME SIZE=45 SMTPUTF8 RET=FULL ENVID=id+2B1+3D2"; m.MailParams != want {
		t.Errorf("MAIL params %q, want %q", m.MailParams, want)
	}
	if want := "NOTIFY=SUCCESS ORCPT=RFC822;o+2Ba@dest.test"; m.RcptParams[0] != want {
		t.Errorf("RCPT params %q, want %q", m.RcptParams[0], want)
	}
	if strings.Join(m.Rcpts, " ") != "a@dest.test b@dest.test" {
		t.Errorf("recipients %q", m.Rcpts)
	}
	srv.Update(func(c *smtptest.Config) { c.MailReply = "553 5.1.8 sender domain unknown" })
	res = r.Deliver(context.Background(), request("p2", "a@dest.test", "b@dest.test"))
	for _, x := range res {
		wantErr(t, x, mailmsg.Error{Permanent: true, Code: 553, Enhanced: "5.1.8", Command: mailmsg.CmdMail, RemoteLine: "553 5.1.8 sender domain unknown"})
	}
	srv.Update(func(c *smtptest.Config) { c.MailReply = "" })
	wantErr(t, r.Deliver(context.Background(), request("p3", "a@dest.test"))[0], mailmsg.Error{})
	if srv.Connections() != 1 {
		t.Errorf("%d connections, want 1 (RSET after the refused MAIL keeps it)", srv.Connections())
	}
}

func TestRemotePerRecipientReplies(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{RcptReplies: map[string][]string{
		"later@dest.test": {"450-4.2.1 mailbox busy\r\n450 4.2.1 try later"},
		"gone@dest.test":  {"550 5.1.1 no such user"},
	}})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	res := r.Deliver(context.Background(), request("q2", "ok@dest.test", "later@dest.test", "gone@dest.test"))
	wantErr(t, res[0], mailmsg.Error{})
	wantErr(t, res[1], mailmsg.Error{Code: 450, Enhanced: "4.2.1", Command: mailmsg.CmdRcpt, RemoteLine: "450 4.2.1 mailbox busy try later", RemoteMTA: "mx.dest.test"})
	wantErr(t, res[2], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: mailmsg.CmdRcpt, RemoteLine: "550 5.1.1 no such user"})
	if m := srv.WaitMessages(t, 1, 5*time.Second)[0]; len(m.Rcpts) != 1 || m.Rcpts[0] != "ok@dest.test" {
		t.Errorf("server got recipients %q, want only ok@dest.test", m.Rcpts)
	}
}

func TestRemoteRetryAfter4xxAndConnectionReuse(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{RcptReplies: map[string][]string{
		"a@dest.test": {"451 4.3.0 try again later", "250 2.1.5 OK"},
	}})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	res := r.Deliver(context.Background(), request("q3", "a@dest.test"))
	wantErr(t, res[0], mailmsg.Error{Code: 451, Enhanced: "4.3.0", Command: mailmsg.CmdRcpt})
	res = r.Deliver(context.Background(), request("q3", "a@dest.test"))
	wantErr(t, res[0], mailmsg.Error{})
	res = r.Deliver(context.Background(), request("q4", "b@dest.test"))
	wantErr(t, res[0], mailmsg.Error{})
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections for three messages, want 1 reused", n)
	}
	if n := counter(t, r.Metrics.reuses.WithLabelValues("remote")); n != 2 {
		t.Errorf("reuses = %v, want 2", n)
	}
}

func TestRemoteDNS(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t,
		"null.test. 300 IN MX 0 .",
		"implicit.test. 300 IN A 127.0.0.1",
		"badmx.test. 300 IN MX 10 nowhere.badmx.test.",
		"exists.test. 300 IN TXT \"no mail here\"",
	)
	dns.ServFail("servfail.test")
	dns.Timeout("slow.test")
	r, _, _ := newRemote(t, dns, srv.Port())
	for _, tc := range []struct {
		domain string
		want   mailmsg.Error
	}{
		{"null.test", mailmsg.Error{Permanent: true, Code: 556, Enhanced: "5.1.10", Command: mailmsg.CmdDNS, Reason: "null MX"}},
		{"implicit.test", mailmsg.Error{}},
		{"servfail.test", mailmsg.Error{Code: 451, Enhanced: "4.4.3", Command: mailmsg.CmdDNS, Reason: "DNS server failure"}},
		{"slow.test", mailmsg.Error{Code: 451, Enhanced: "4.4.3", Command: mailmsg.CmdDNS, Reason: "DNS timeout"}},
		{"nxdomain.test", mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.2", Command: mailmsg.CmdDNS}},
		{"exists.test", mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.2", Command: mailmsg.CmdDNS}},
		{"badmx.test", mailmsg.Error{Code: 451, Enhanced: "4.4.3", Command: mailmsg.CmdDNS, Reason: "no such host"}},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			res := r.Deliver(ctx, request("q5", "u@"+tc.domain))
			wantErr(t, res[0], tc.want)
		})
	}
}

func TestRemoteTriesNextMX(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		v4, v6 smtptest.Config
		first  string // record of the preferred MX
	}{
		// the preferred MX is on ::1 where nothing listens on the port
		{"connection refused", smtptest.Config{}, smtptest.Config{}, "mx1.dest.test. 300 IN AAAA ::2"},
		{"421 greeting", smtptest.Config{Greeting: "421 4.3.2 too busy"}, smtptest.Config{}, "mx1.dest.test. 300 IN A 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v4, v6 := dualStack(t, tc.v4, tc.v6)
			second := "mx2.dest.test. 300 IN AAAA ::1"
			if tc.name == "connection refused" {
				second = "mx2.dest.test. 300 IN A 127.0.0.1"
			}
			dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx1.dest.test.", "dest.test. 300 IN MX 20 mx2.dest.test.", tc.first, second)
			r, _, _ := newRemote(t, dns, v4.Port())
			res := r.Deliver(context.Background(), request("q6", "a@dest.test"))
			wantErr(t, res[0], mailmsg.Error{})
			if len(v4.Messages())+len(v6.Messages()) != 1 {
				t.Errorf("messages: %d on 127.0.0.1, %d on ::1, want 1 in all", len(v4.Messages()), len(v6.Messages()))
			}
		})
	}
}

func TestRemoteIPv6(t *testing.T) {
	t.Parallel()
	needIPv6(t)
	srv := smtptest.StartOn(t, "[::1]:0", smtptest.Config{})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN AAAA ::1")
	r, _, _ := newRemote(t, dns, srv.Port())
	wantErr(t, r.Deliver(context.Background(), request("q7", "a@dest.test"))[0], mailmsg.Error{})
	srv.WaitMessages(t, 1, 5*time.Second)
}

func TestRemoteAllMXDown(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{Greeting: "554 5.3.2 not accepting mail"})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	res := r.Deliver(context.Background(), request("q8", "a@dest.test"))
	wantErr(t, res[0], mailmsg.Error{Code: 554, Enhanced: "5.3.2", Command: mailmsg.CmdConnect, RemoteLine: "554 5.3.2 not accepting mail"})
}

func TestRemoteReplacesDeadPooledConnection(t *testing.T) {
	t.Parallel()
	for _, ext := range [][]string{{"PIPELINING"}, {"8BITMIME"}} {
		srv := smtptest.Start(t, smtptest.Config{CloseAfterMessage: true, Extensions: ext})
		dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
		r, _, _ := newRemote(t, dns, srv.Port())
		wantErr(t, r.Deliver(context.Background(), request("d1", "a@dest.test"))[0], mailmsg.Error{})
		wantErr(t, r.Deliver(context.Background(), request("d2", "a@dest.test"))[0], mailmsg.Error{})
		if n := len(srv.WaitMessages(t, 2, 5*time.Second)); n != 2 || srv.Connections() != 2 {
			t.Errorf("%v: %d messages over %d connections, want 2 over 2", ext, n, srv.Connections())
		}
	}
}

func TestRemoteMXOrder(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, "dest.test. 300 IN MX 20 c.dest.test.", "dest.test. 300 IN MX 10 a.dest.test.", "dest.test. 300 IN MX 10 b.dest.test.")
	r, _, _ := newRemote(t, dns, 25)
	seen := map[string]bool{}
	for range 50 {
		hosts, implicit, err := r.mxHosts(context.Background(), "dest.test")
		if err != nil || implicit || len(hosts) != 3 || hosts[2] != "c.dest.test" {
			t.Fatalf("hosts %q implicit=%v err=%v, want a and b (any order) then c", hosts, implicit, err)
		}
		seen[hosts[0]] = true
	}
	if !seen["a.dest.test"] || !seen["b.dest.test"] {
		t.Errorf("first host was always the same of two equal MX: %v", seen)
	}
}
