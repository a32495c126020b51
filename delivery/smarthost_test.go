package delivery

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
)

func newSmarthost(t *testing.T, srv *smtptest.Server, mode, pass string) *Smarthost {
	h := &Smarthost{
		Host: "127.0.0.1", Port: srv.Port(), TLS: mode, Username: "relayuser", Password: pass,
		RootCAs: srv.CertPool(), Hostname: "out.mailgate.test", Timeouts: fast,
		IdleTimeout: time.Minute, MaxIdlePerHost: 1, Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(nil),
	}
	t.Cleanup(h.Close)
	return h
}

func TestSmarthostAuthOverSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{STARTTLS: true, AuthUser: "relayuser", AuthPass: "s3cret"})
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	pass, err := ReadPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	h := newSmarthost(t, srv, config.SmarthostSTARTTLS, pass)
	req := request("h1", "a@one.test")
	for _, res := range h.Deliver(context.Background(), req) {
		wantErr(t, res, mailmsg.Error{})
	}
	wantErr(t, h.Deliver(context.Background(), request("h2", "b@two.test"))[0], mailmsg.Error{})
	msgs := srv.WaitMessages(t, 2, 5*time.Second)
	for _, m := range msgs {
		if !m.TLS || m.AuthUser != "relayuser" {
			t.Errorf("TLS=%v user=%q, want TLS and relayuser", m.TLS, m.AuthUser)
		}
	}
	if srv.Connections() != 1 {
		t.Errorf("%d connections, want 1 reused", srv.Connections())
	}
	if n := counter(t, h.Metrics.attempts.WithLabelValues("smarthost", "delivered")); n != 2 {
		t.Errorf("smarthost delivered = %v, want 2", n)
	}
}

func TestSmarthostImplicitTLS(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{ImplicitTLS: true, AuthUser: "relayuser", AuthPass: "pw"})
	h := newSmarthost(t, srv, config.SmarthostImplicit, "pw")
	wantErr(t, h.Deliver(context.Background(), request("h3", "a@one.test"))[0], mailmsg.Error{})
	if m := srv.WaitMessages(t, 1, 5*time.Second)[0]; !m.TLS || m.AuthUser != "relayuser" {
		t.Errorf("TLS=%v user=%q", m.TLS, m.AuthUser)
	}
}

func TestSmarthostFailures(t *testing.T) {
	t.Parallel()
	t.Run("wrong password defers", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Config{STARTTLS: true, AuthUser: "relayuser", AuthPass: "right"})
		h := newSmarthost(t, srv, config.SmarthostSTARTTLS, "wrong")
		wantErr(t, h.Deliver(context.Background(), request("h4", "a@one.test"))[0],
			mailmsg.Error{Code: 535, Enhanced: "5.7.8", Command: mailmsg.CmdAuth, RemoteMTA: "127.0.0.1", RemoteLine: "535 5.7.8 Authentication credentials invalid"})
	})
	t.Run("no STARTTLS defers, password never sent", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Config{AuthUser: "relayuser", AuthPass: "pw"})
		h := newSmarthost(t, srv, config.SmarthostSTARTTLS, "pw")
		wantErr(t, h.Deliver(context.Background(), request("h5", "a@one.test"))[0],
			mailmsg.Error{Code: 451, Enhanced: "4.7.10", Command: mailmsg.CmdTLS})
		for _, c := range srv.Commands() {
			if c == "AUTH ..." {
				t.Error("AUTH sent without TLS")
			}
		}
	})
	t.Run("untrusted certificate defers", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Config{STARTTLS: true, AuthUser: "relayuser", AuthPass: "pw"})
		h := newSmarthost(t, srv, config.SmarthostSTARTTLS, "pw")
		h.RootCAs = nil
		wantErr(t, h.Deliver(context.Background(), request("h6", "a@one.test"))[0],
			mailmsg.Error{Code: 451, Enhanced: "4.7.5", Command: mailmsg.CmdTLS})
	})
	t.Run("relay rejects recipient", func(t *testing.T) {
		t.Parallel()
		srv := smtptest.Start(t, smtptest.Config{AuthUser: "relayuser", AuthPass: "pw",
			RcptReplies: map[string][]string{"x@one.test": {"550 5.7.1 relaying denied"}}})
		h := newSmarthost(t, srv, config.SmarthostNoTLS, "pw")
		wantErr(t, h.Deliver(context.Background(), request("h7", "x@one.test"))[0],
			mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.7.1", Command: mailmsg.CmdRcpt, RemoteMTA: "127.0.0.1"})
	})
}
