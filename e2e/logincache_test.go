package e2e

import (
	"errors"
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
	login("disabled in accounts.yaml", newPW, false)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	login("enabled again", newPW, true)

	if out, code := srv.Run("", "user", "del", user, "-config", srv.ConfigPath); code != 0 {
		t.Fatalf("user del: exit %d: %s", code, out)
	}
	login("after user del", newPW, false)
}
