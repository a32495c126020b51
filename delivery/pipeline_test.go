package delivery

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
)

// pipelinedRemote is a Remote for dest.test at srv, which offers
// PIPELINING (smtptest's default).
func pipelinedRemote(t *testing.T, srv *smtptest.Server) *Remote {
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	r, _, _ := newRemote(t, dns, srv.Port())
	return r
}

// TestPipelinedTransaction: MAIL, RCPT and DATA leave in one write, the
// content after the 354, and the next message reuses the connection.
func TestPipelinedTransaction(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{})
	r := pipelinedRemote(t, srv)
	for _, id := range []string{"p1", "p2"} {
		for _, res := range r.Deliver(context.Background(), request(id, "a@dest.test", "b@dest.test")) {
			wantErr(t, res, mailmsg.Error{})
		}
	}
	msgs := srv.WaitMessages(t, 2, 5*time.Second)
	for _, m := range msgs {
		if !strings.HasSuffix(string(m.Raw), "\r\n\r\nhello\r\n.\r\n") || len(m.Rcpts) != 2 {
			t.Errorf("message %q to %v", m.Raw, m.Rcpts)
		}
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want the second message on the first", n)
	}
}

// TestPipelinedDataRefused: a DATA refused in the pipelined group gives
// each accepted recipient the DATA reply; RSET keeps the connection in
// step, and the next message goes over it.
func TestPipelinedDataRefused(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{DataCommandReplies: []string{"451 4.3.0 try again later", "354 go ahead"}})
	r := pipelinedRemote(t, srv)
	res := r.Deliver(context.Background(), request("p1", "a@dest.test"))
	wantErr(t, res[0], mailmsg.Error{Code: 451, Enhanced: "4.3.0", Command: mailmsg.CmdData, RemoteLine: "451 4.3.0 try again later"})
	wantErr(t, r.Deliver(context.Background(), request("p2", "a@dest.test"))[0], mailmsg.Error{})
	if msgs := srv.WaitMessages(t, 1, 5*time.Second); len(msgs) != 1 {
		t.Errorf("%d messages, want 1", len(msgs))
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if !slices.Contains(srv.Commands(), "RSET") {
		t.Errorf("no RSET after the refused DATA: %q", srv.Commands())
	}
}

// TestPipelinedDataWithoutRecipients: a server that answers the
// pipelined DATA with 354 although it refused every recipient gets an
// empty content ended at once; the recipients keep their RCPT errors and
// the connection carries the next message.
func TestPipelinedDataWithoutRecipients(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{DataWithoutRcpt: true,
		RcptReplies: map[string][]string{"a@dest.test": {"550 5.1.1 no such user"}}})
	r := pipelinedRemote(t, srv)
	res := r.Deliver(context.Background(), request("p1", "a@dest.test"))
	wantErr(t, res[0], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: mailmsg.CmdRcpt})
	wantErr(t, r.Deliver(context.Background(), request("p2", "b@dest.test"))[0], mailmsg.Error{})
	msgs := srv.WaitMessages(t, 1, 5*time.Second)
	if len(msgs) != 1 || len(msgs[0].Rcpts) != 1 || msgs[0].Rcpts[0] != "b@dest.test" {
		t.Errorf("messages %+v, want one to b@dest.test", msgs)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}
