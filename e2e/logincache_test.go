package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
)

// TestLoginCacheForgetsAtOnce: a login that the cache remembers stops
// working the moment its account changes, over 587 and 465 of the real
// binary: after `mailgate user passwd` the old password is refused and
// the new one works on the very next connection; after accounts.yaml
// marks the account disabled (as an editor would), and after `mailgate
// user del`, the password is refused at once.
func TestLoginCacheForgetsAtOnce(t *testing.T) {
	const user, oldPW, newPW = "app@localhost", "old-password-1", "new-password-2"
	srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{user: oldPW}})
	login := func(step, pw string, want bool) {
		t.Helper()
		for _, proto := range []string{"submission", "submissions"} {
			c := dialSubmit(t, srv.Addr[proto], proto, srv.ClientTLS())
			err := c.Auth(sasl.NewPlainClient("", user, pw))
			c.Close()
			var se *smtp.SMTPError
			switch {
			case want && err != nil:
				t.Errorf("%s: %s: login refused: %v", step, proto, err)
			case !want && err == nil:
				t.Errorf("%s: %s: login accepted, want 535", step, proto)
			case !want && !(errors.As(err, &se) && se.Code == 535):
				t.Errorf("%s: %s: %v, want 535", step, proto, err)
			}
		}
	}
	login("first login", oldPW, true)
	login("cached login", oldPW, true)

	if out, code := srv.Run(newPW+"\n", "user", "passwd", user, "--password-stdin", "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user passwd: exit %d: %s", code, out)
	}
	login("old password after passwd", oldPW, false)
	login("new password after passwd", newPW, true)
	login("new password, cached", newPW, true)

	enable := disableInFile(t, srv, user)
	login("disabled in accounts.yaml", newPW, false)
	enable()
	login("enabled again", newPW, true)

	if out, code := srv.Run("", "user", "del", user, "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user del: exit %d: %s", code, out)
	}
	login("after user del", newPW, false)
}

// disableInFile marks user disabled in accounts.yaml, as an editor
// would; the function it returns puts the file back.
func disableInFile(t *testing.T, srv *mgtest.Server, user string) (enable func()) {
	t.Helper()
	file := filepath.Join(srv.DataDir, "accounts.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^( *)- address: ` + regexp.QuoteMeta(user) + `\n`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("accounts.yaml has no entry for %s:\n%s", user, b)
	}
	disabled := strings.Replace(string(b), m[0], m[0]+m[1]+"  disabled: true\n", 1)
	if err := os.WriteFile(file, []byte(disabled), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenSessionStopsWhenAccountDisabled: an application that logged in
// and keeps its connection open (587 and 465 of the real binary) cannot
// send once its account is disabled in accounts.yaml or removed with
// `mailgate user del`: the next MAIL FROM on that same connection gets
// 530 5.7.0 and nothing more is queued; a message sent before goes
// through.
func TestOpenSessionStopsWhenAccountDisabled(t *testing.T) {
	const user, pw = "app@localhost", "app-password-1"
	srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{user: pw, "bob@localhost": "bob-password-1"}})
	const want = "530 5.7.0 Authentication required: the account was disabled or removed since this session logged in"
	open := func(proto string) *smtp.Client {
		t.Helper()
		c := dialSubmit(t, srv.Addr[proto], proto, srv.ClientTLS())
		if err := c.Auth(sasl.NewPlainClient("", user, pw)); err != nil {
			t.Fatalf("%s: login: %v", proto, err)
		}
		return c
	}
	send := func(c *smtp.Client, subject string) error {
		return c.SendMail(user, []string{"bob@localhost"},
			strings.NewReader("From: "+user+"\r\nTo: bob@localhost\r\nSubject: "+subject+"\r\n\r\nHi.\r\n"))
	}
	refused := func(step string, err error) {
		t.Helper()
		var se *smtp.SMTPError
		if !errors.As(err, &se) || fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message) != want {
			t.Errorf("%s: %v, want %s", step, err, want)
		}
	}
	for _, proto := range []string{"submission", "submissions"} {
		c := open(proto)
		if err := send(c, "before-"+proto); err != nil {
			t.Fatalf("%s: send before: %v", proto, err)
		}
		enable := disableInFile(t, srv, user)
		refused(proto+": send after disabling", send(c, "after-"+proto))
		c.Close()
		enable()
	}
	c := open("submission")
	if out, code := srv.Run("", "user", "del", user, "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user del: exit %d: %s", code, out)
	}
	refused("send after user del", send(c, "after-del"))
	c.Close()
	for _, s := range []string{"before-submission", "before-submissions"} {
		waitStored(t, srv, "bob@localhost", s)
	}
	for _, s := range []string{"after-submission", "after-submissions", "after-del"} {
		if where := findSubject(t, srv.DataDir, s); where != "" {
			t.Errorf("%s was kept: %s", s, where)
		}
	}
}
