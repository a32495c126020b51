package pop3

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailgate/internal/testenv"
)

func TestPythonPoplib(t *testing.T) {
	t.Parallel()
	python := testenv.Tool(t, "python3")
	for _, mode := range []string{"ssl", "stls"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e, uids := withMail(t)
			ids := e.store.uidls(t, "alice")
			addr := e.implicit
			if mode == "stls" {
				addr = e.plain
			}
			host, port, _ := net.SplitHostPort(addr)
			out, err := exec.Command(python, "testdata/poplib_client.py", mode, host, port, e.caFile, "alice", "secret").CombinedOutput()
			if err != nil {
				t.Fatalf("poplib: %v\n%s", err, out)
			}
			var got struct {
				Capa, UIDL, Retr, Top []string
				Stat                  []int
				Dele, Quit            string
			}
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			checkEqual(t, "CAPA (over TLS, before login)", got.Capa,
				[]string{"AUTH-RESP-CODE", "IMPLEMENTATION", "PIPELINING", "RESP-CODES", "SASL", "TOP", "UIDL", "USER"})
			checkEqual(t, "STAT", got.Stat, []int{2, len(msgA) + len(msgB)})
			checkEqual(t, "UIDL", got.UIDL, []string{"1 " + ids[0], "2 " + ids[1]})
			checkEqual(t, "RETR 1", got.Retr, strings.Split(strings.TrimSuffix(msgA, "\r\n"), "\r\n"))
			checkEqual(t, "TOP 1 0", got.Top, []string{"From: carol@example.org", "To: alice@pop.test", "Subject: first", ""})
			checkEqual(t, "DELE", []string{got.Dele, got.Quit},
				[]string{"+OK message 1 deleted", "+OK pop.test POP3 server signing off (1 messages deleted)"})
			if left := e.store.uids(t, "alice"); !slices.Equal(left, uids[1:]) {
				t.Errorf("after QUIT the store has %v, want %v", left, uids[1:])
			}
		})
	}
}

func checkEqual[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestCurl(t *testing.T) {
	t.Parallel()
	curl := testenv.Tool(t, "curl")
	e, _ := withMail(t)
	run := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "--max-time", "20", "--cacert", e.caFile, "-u", "alice:secret"}, args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// curl logs in with AUTH PLAIN, as CAPA offers SASL PLAIN.
	if got := run("pop3s://127.0.0.1:" + port(e.implicit) + "/1"); got != msgA {
		t.Errorf("pop3s RETR 1: got %q, want %q", got, msgA)
	}
	wantList := fmt.Sprintf("1 %d\r\n2 %d\r\n", len(msgA), len(msgB))
	if got := run("-k", "pop3s://127.0.0.1:"+port(e.implicit)+"/"); got != wantList {
		t.Errorf("pop3s LIST: got %q, want %q", got, wantList)
	}
	if got := run("--ssl-reqd", "pop3://127.0.0.1:"+port(e.plain)+"/2"); got != msgB {
		t.Errorf("pop3 with STLS, RETR 2: got %q, want %q", got, msgB)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// fetchmail fetches every message into an MDA and deletes it on the
// server, over implicit TLS and over STLS.
func TestFetchmail(t *testing.T) {
	t.Parallel()
	fetchmail := testenv.Tool(t, "fetchmail")
	for _, mode := range []string{"ssl", "stls"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e, _ := withMail(t)
			dir := t.TempDir()
			out := filepath.Join(dir, "delivered")
			opts := "ssl"
			p := port(e.implicit)
			if mode == "stls" {
				opts, p = "sslproto tls1.2+", port(e.plain)
			}
			rc := fmt.Sprintf(`set no syslog
poll 127.0.0.1 protocol POP3 service %s uidl
  user "alice" there with password "secret" is "alice" here
  options %s sslcertck sslcertfile "%s" sslcommonname "localhost" fetchall
  mda "cat >> %s"
`, p, opts, e.caFile, out)
			rcPath := filepath.Join(dir, "fetchmailrc")
			if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(fetchmail, "--nodetach", "--pidfile", filepath.Join(dir, "pid"), "-f", rcPath)
			cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("fetchmail: %v\n%s", err, msg)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Subject: first", "\nHello Alice.\n.hidden dot line\nBye.\n", "Subject: second", "\nline 1\nline 2\nline 3\n"} {
				if !strings.Contains(string(got), want) {
					t.Errorf("delivered mail lacks %q:\n%s", want, got)
				}
			}
			if left := e.store.uids(t, "alice"); len(left) != 0 {
				t.Errorf("fetchmail left %v on the server", left)
			}
		})
	}
}
