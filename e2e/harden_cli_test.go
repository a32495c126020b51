package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestEverySubcommandAnswersHelp: -h and --help print the usage on
// stdout and exit 0, whatever comes before them (issue 14: check-config
// took -h for a file name, queue for a queue command).
func TestEverySubcommandAnswersHelp(t *testing.T) {
	dir := t.TempDir()
	cmds := [][]string{{"serve"}, {"check-config"}, {"user"}, {"user", "add"}, {"user", "add", "a@example.com"},
		{"queue"}, {"queue", "flush"}, {"dkim"}, {"dkim", "keygen"}, {"dns-records"}, {"dmarc"}, {"dmarc", "report"},
		{"default-config"}}
	for _, cmd := range cmds {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string(nil), cmd...), h)
			out, code := mgtest.Run(t, dir, "", args...)
			if code != 0 || !(strings.HasPrefix(out, "usage: mailgate "+cmd[0]) || strings.HasPrefix(out, "usage:\n  mailgate "+cmd[0]) ||
				strings.HasPrefix(out, "Usage of "+strings.Join(cmd, " "))) {
				t.Errorf("mailgate %s: exit %d:\n%s", strings.Join(args, " "), code, out)
			}
		}
	}
	if _, code := mgtest.Run(t, dir, "", "nosuchcommand", "-h"); code != 2 {
		t.Errorf("an unknown command with -h: exit %d, want 2", code)
	}
	// The load tools live in cmd/mailgate-bench, not in the server binary.
	if _, code := mgtest.Run(t, dir, "", "bench", "send"); code != 2 {
		t.Errorf("mailgate bench send: exit %d, want 2 (unknown command)", code)
	}
}

// TestUserAddTellsWhatItDid: user add refuses a short password and says
// how to insist, warns about a domain that is not local, and names the
// accounts file it wrote.
func TestUserAddTellsWhatItDid(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mailgate.yaml")
	data := filepath.Join(dir, "data")
	os.WriteFile(cfg, []byte("hostname: mail.example.com\ndata_dir: "+data+"\nlocal_domains: [example.com]\n"), 0o600)
	out, code := mgtest.Run(t, dir, "short\n", "user", "add", "a@example.com", "--password-stdin", "-config", cfg)
	if code != 1 || !strings.Contains(out, "the password has 5 characters; give at least 8, or add --allow-short-password if you mean it") {
		t.Errorf("short password: exit %d: %s", code, out)
	}
	out, code = mgtest.Run(t, dir, "short\n", "user", "add", "a@example.com", "--password-stdin", "--allow-short-password", "-config", cfg)
	if want := "added a@example.com to " + filepath.Join(data, "accounts.yaml"); code != 0 || !strings.Contains(out, want) {
		t.Errorf("short password allowed: exit %d: %s; want %q", code, out, want)
	}
	out, code = mgtest.Run(t, dir, "long enough\n", "user", "add", "b@example.org", "--password-stdin", "-config", cfg)
	if code != 0 || !strings.Contains(out, "warning: example.org is not in local_domains") {
		t.Errorf("non-local domain: exit %d: %s", code, out)
	}
	out, code = mgtest.Run(t, dir, "long enough\n", "user", "passwd", "a@example.com", "--password-stdin", "-config", cfg)
	if code != 0 || !strings.Contains(out, "password changed for a@example.com in "+filepath.Join(data, "accounts.yaml")) {
		t.Errorf("passwd: exit %d: %s", code, out)
	}
}
