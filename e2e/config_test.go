package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// badConfig has several problems; the binary must print every one.
const badConfig = `hostname: mail_example
data_dir: DIR
local_domains: [example.com]
limits:
  max_message_size: -1MB
  command_timeout: forever
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:0
  - name: sub
    protocol: submission
    address: 127.0.0.1:5870
  - name: sub2
    protocol: submission
    address: 127.0.0.1:5870
tls:
  cert_file: /nonexistent/fullchain.pem
  key_file: /nonexistent/privkey.pem
colour: blue
`

func wantProblems(path string) string {
	return strings.Join([]string{
		path + `:1: hostname: "mail_example" is not a host name; write a fully qualified name such as mail.example.com`,
		path + `:5: limits.max_message_size: "-1MB" is negative; write a size of zero or more, such as 25MB`,
		path + `:6: limits.command_timeout: "forever" is not a duration; write a number with a unit, such as 30s, 5m, 4h or 5d`,
		path + `:10: listeners[0].address: port "0" is out of range; write a port from 1 to 65535`,
		path + `:16: listeners[2].address: 127.0.0.1:5870 is already used by listeners[1]; give each listener its own address`,
		path + `:18: tls.cert_file: cannot read certificate file "/nonexistent/fullchain.pem" (no such file); write the path of an existing, readable file`,
		path + `:19: tls.key_file: cannot read private key file "/nonexistent/privkey.pem" (no such file); write the path of an existing, readable file`,
		path + `:20: colour: unknown key; valid keys here are: auth, cluster, data_dir, delivery, filters, hostname, http, limits, listeners, local_domains, log, mailbox, mta_sts, queue, reports, sieve, tls`,
	}, "\n") + "\n"
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", strings.ReplaceAll(badConfig, "DIR", dir))
	good := writeFile(t, dir, "good.yaml", "hostname: mail.example.com\ndata_dir: "+dir+"\nlocal_domains: [example.com]\n"+
		"listeners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:2525\n")
	defaultOut, code := mgtest.Run(t, dir, "", "default-config")
	if code != 0 {
		t.Fatalf("default-config: exit %d: %s", code, defaultOut)
	}
	embedded := writeFile(t, dir, "default.yaml", defaultOut)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"valid file", []string{"check-config", good}, 0, good + ": OK\n"},
		{"the embedded default", []string{"check-config", embedded}, 0, embedded + ": OK\n"},
		{"every problem, one per line", []string{"check-config", bad}, 1, wantProblems(bad)},
		{"missing file", []string{"check-config", filepath.Join(dir, "nope.yaml")}, 1,
			filepath.Join(dir, "nope.yaml") + ": cannot read the config file (no such file); give the path of a readable YAML file\n"},
		{"no file given", []string{"check-config"}, 2, "usage: mailgate check-config FILE\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, code := mgtest.Run(t, dir, "", tc.args...)
			if code != tc.wantCode || out != tc.wantOut {
				t.Errorf("mailgate %s: exit %d, output:\n%s\nwant exit %d, output:\n%s", strings.Join(tc.args, " "), code, out, tc.wantCode, tc.wantOut)
			}
		})
	}
}

// TestServeRefusesInvalidConfig: serve prints the same problems as
// check-config, exits 1 and never gets ready.
func TestServeRefusesInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", strings.ReplaceAll(badConfig, "DIR", filepath.Join(dir, "data")))
	out, code := mgtest.Run(t, dir, "", "serve", "-config", bad)
	if code != 1 || out != wantProblems(bad) {
		t.Errorf("serve: exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, wantProblems(bad))
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("serve created the data directory of an invalid config")
	}
}
