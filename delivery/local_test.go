package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/config"
	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
)

// memStore is an in-memory mailbox store with a per-account quota.
type memStore struct {
	mu    sync.Mutex
	msgs  map[string][]string // "account/folder" -> messages
	quota map[string]int
	junk  map[string]bool
}

type quotaErr struct{ permanent bool }

func (q quotaErr) Error() string { return fmt.Sprintf("over quota (permanent=%v)", q.permanent) }

type brokenErr struct{}

func (brokenErr) Error() string   { return "store is read-only" }
func (brokenErr) Permanent() bool { return true }

func (s *memStore) Deliver(ctx context.Context, account, folder string, msg []byte, quarantine bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if account == "readonly" {
		return fmt.Errorf("put: %w", brokenErr{})
	}
	if q, ok := s.quota[account]; ok && len(msg) > q/2 {
		return fmt.Errorf("deliver: %w", quotaErr{permanent: len(msg) > q})
	}
	if quarantine {
		folder = "Junk"
	}
	s.msgs[account+"/"+folder] = append(s.msgs[account+"/"+folder], string(msg))
	return nil
}

type mapDir map[string][2]string

func (d mapDir) Lookup(addr string) (string, string, bool) {
	v, ok := d[strings.ToLower(addr)]
	return v[0], v[1], ok
}

func classify(err error) *mailmsg.Error {
	var q quotaErr
	if errors.As(err, &q) {
		return MailboxFull(q.permanent, err)
	}
	return nil
}

func newLocal() (*Local, *memStore) {
	st := &memStore{msgs: map[string][]string{}, quota: map[string]int{"small": 10, "full": 30}}
	dir := mapDir{
		"alice@here.test": {"alice", ""}, "alice+news@here.test": {"alice", "news"},
		"small@here.test": {"small", ""}, "full@here.test": {"full", ""}, "ro@here.test": {"readonly", ""},
	}
	return &Local{Mailboxes: st, Directory: dir, Classify: classify, Metrics: NewMetrics(nil)}, st
}

func TestLocal(t *testing.T) {
	t.Parallel()
	l, st := newLocal()
	req := request("l1", "alice@here.test", "alice+news@here.test", "nobody@here.test", "small@here.test", "full@here.test", "ro@here.test")
	req.Body = []byte("Subject: x\n\nbody\n")
	res := l.Deliver(context.Background(), req)
	wantErr(t, res[0], mailmsg.Error{})
	wantErr(t, res[1], mailmsg.Error{})
	wantErr(t, res[2], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: mailmsg.CmdLocal})
	wantErr(t, res[3], mailmsg.Error{Permanent: true, Code: 552, Enhanced: "5.2.2", Command: mailmsg.CmdLocal})
	wantErr(t, res[4], mailmsg.Error{Code: 452, Enhanced: "4.2.2", Command: mailmsg.CmdLocal})
	wantErr(t, res[5], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.2.0", Command: mailmsg.CmdLocal})
	if got := st.msgs["alice/"]; len(got) != 1 || got[0] != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("alice INBOX = %q, want one CRLF message", got)
	}
	if len(st.msgs["alice/news"]) != 1 {
		t.Errorf("alice/news has %d messages, want 1", len(st.msgs["alice/news"]))
	}
	req = request("l2", "alice@here.test")
	req.Quarantine = true
	wantErr(t, l.Deliver(context.Background(), req)[0], mailmsg.Error{})
	if len(st.msgs["alice/Junk"]) != 1 {
		t.Error("quarantined message not in Junk")
	}
	if n := counter(t, l.Metrics.attempts.WithLabelValues("local", "bounced")); n != 3 {
		t.Errorf("local bounced = %v, want 3", n)
	}
}

func TestRouterSplitsLocalAndRemote(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	remote, _, _ := newRemote(t, dns, srv.Port())
	local, st := newLocal()
	rt := &Router{LocalDomains: []string{"Here.test"}, Local: local, Remote: remote}
	defer rt.Close()
	res := rt.Deliver(context.Background(), request("r1", "x@dest.test", "alice@HERE.test", "nobody@here.test", "y@dest.test"))
	if len(res) != 4 || res[0].Rcpt != "x@dest.test" || res[1].Rcpt != "alice@HERE.test" || res[3].Rcpt != "y@dest.test" {
		t.Fatalf("results out of order: %+v", res)
	}
	wantErr(t, res[0], mailmsg.Error{})
	wantErr(t, res[1], mailmsg.Error{})
	wantErr(t, res[2], mailmsg.Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: mailmsg.CmdLocal})
	wantErr(t, res[3], mailmsg.Error{})
	if m := srv.WaitMessages(t, 1, 5*time.Second)[0]; strings.Join(m.Rcpts, ",") != "x@dest.test,y@dest.test" {
		t.Errorf("remote got %q", m.Rcpts)
	}
	if len(st.msgs["alice/"]) != 1 {
		t.Error("alice got nothing")
	}
}

func TestNewFromConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("hunter2\n"), 0o600)
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(`
hostname: mail.example.com
local_domains: [example.com]
delivery:
  helo_name: out.example.com
  smarthost:
    host: 127.0.0.1
    tls: implicit
    username: app
    password_file: %s
`, pw)), nil)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := New(cfg, nil, &memStore{}, mapDir{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := rt.Remote.(*Smarthost)
	if !ok || h.Password != "hunter2" || h.Hostname != "out.example.com" || h.port() != 465 {
		t.Fatalf("smarthost = %+v", rt.Remote)
	}
	cfg.Delivery.Smarthost.Host = ""
	rt, err = New(cfg, nil, &memStore{}, mapDir{}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := rt.Remote.(*Remote); !ok || r.Port != 25 || r.Timeouts.DataEnd != 10*time.Minute {
		t.Fatalf("remote = %+v", rt.Remote)
	}
}

// TestRouterRefusesLooping: a message with more Received fields than
// MaxReceived is not sent on to remote recipients (it bounces with
// 5.4.6, the remote sees nothing); local ones still get their copy.
func TestRouterRefusesLooping(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Config{})
	dns := dnstest.Start(t, "dest.test. 300 IN MX 10 mx.dest.test.", "mx.dest.test. 300 IN A 127.0.0.1")
	remote, _, _ := newRemote(t, dns, srv.Port())
	local, st := newLocal()
	rt := &Router{LocalDomains: []string{"here.test"}, Local: local, Remote: remote, MaxReceived: 3}
	defer rt.Close()
	req := request("r1", "x@dest.test", "alice@here.test")
	req.Body = append([]byte(strings.Repeat("Received: from a by b; Thu, 3 Dec 2026 12:00:00 +0000\r\n", 4)), req.Body...)
	res := rt.Deliver(context.Background(), req)
	wantErr(t, res[0], mailmsg.Error{Permanent: true, Code: 554, Enhanced: "5.4.6", Command: mailmsg.CmdData})
	wantErr(t, res[1], mailmsg.Error{})
	if len(st.msgs["alice/"]) != 1 {
		t.Error("alice got nothing")
	}
	req.Body = req.Body[len("Received: from a by b; Thu, 3 Dec 2026 12:00:00 +0000\r\n"):] // 3 fields: not a loop
	wantErr(t, rt.Deliver(context.Background(), req)[0], mailmsg.Error{})
	if n := len(srv.WaitMessages(t, 1, 5*time.Second)); n != 1 {
		t.Errorf("remote got %d messages, want 1", n)
	}
}
