package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
)

// importNode runs one node that delivers mail for remote.example to sink.
func importNode(t *testing.T, dns string, sink *smtptest.Server) *mgtest.Server {
	return mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submissions", "http"}, DNS: dns,
		Users:    map[string]string{"app@localhost": "import-pw"},
		Delivery: fmt.Sprintf("  port: %d\n", sink.Port()),
	})
}

// dialApp logs into srv's submissions port as app@localhost; the test
// ends the connection.
func dialApp(t *testing.T, srv *mgtest.Server) *smtp.Client {
	t.Helper()
	c, err := smtp.DialTLS(srv.Addr["submissions"], srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Auth(sasl.NewPlainClient("", "app@localhost", "import-pw")); err != nil {
		t.Fatal(err)
	}
	return c
}

// submitTokens sends one message per token through srv's submissions
// port and returns their queue IDs.
func submitTokens(t *testing.T, srv *mgtest.Server, tokens []string) []string {
	t.Helper()
	c := dialApp(t, srv)
	var ids []string
	for _, tok := range tokens {
		msg := "From: app@localhost\r\nTo: x@remote.example\r\nSubject: " + tok + "\r\n\r\ntoken " + tok + "\r\n"
		if err := c.SendMail("app@localhost", []string{"x@remote.example"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("send %s: %v", tok, err)
		}
	}
	// The 250 can reach the client before the "queued" line reaches the
	// log (CI once read five of six).
	srv.WaitLogN("msg=queued", len(tokens))
	for _, line := range strings.Split(srv.Logs(), "\n") {
		if m := regexp.MustCompile(`msg=queued msgid=([0-9a-f]{19})`).FindStringSubmatch(line); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

// TestQueueImportDeadNode is issue 20's `mailgate queue import`: node A
// holds six messages that its remote defers; importing A's spool into
// node B while A runs is refused (A's lock); A is killed (-9); one of
// its spool files is damaged on disk. The import into B takes the five
// good ones (with their state) and reports the damaged one, which it
// leaves; B delivers each of the five exactly once; a second import
// imports nothing again; A, started again on its data_dir, finds nothing
// of them left to deliver.
func TestQueueImportDeadNode(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t, smtptest.Config{DataReplies: []string{"451 4.3.0 not yet"}})
	dns := dnstest.Start(t, "remote.example. 300 IN MX 10 sink.test.", "sink.test. 300 IN A 127.0.0.1")
	a, b := importNode(t, dns.Addr, sink), importNode(t, dns.Addr, sink)
	tokens := []string{"imp-1", "imp-2", "imp-3", "imp-4", "imp-5", "imp-6"}
	ids := submitTokens(t, a, tokens)
	if len(ids) != 6 {
		t.Fatalf("queued on A: %v", ids)
	}
	a.WaitLogN("msg=deferred", 6)

	out, code := b.Run("", "queue", "import", a.SpoolDir(), "-config", b.ConfigPath)
	if code == 0 || !strings.Contains(out, "in use by a running mailgate") {
		t.Errorf("import of a running node's spool: exit %d\n%s", code, out)
	}
	a.Kill()
	damage(t, filepath.Join(a.SpoolDir(), ids[5]+".msg"))
	sink.Update(func(c *smtptest.Config) { c.DataReplies = []string{"250 2.0.0 OK"} })

	out, code = b.Run("", "queue", "import", a.DataDir, "-config", b.ConfigPath)
	for _, id := range ids[:5] {
		if !strings.Contains(out, id+": imported, 1 recipient(s) to deliver") {
			t.Errorf("import did not report %s imported:\n%s", id, out)
		}
	}
	if code == 0 || !strings.Contains(out, ids[5]+": broken: message does not match its checksum") ||
		!strings.Contains(out, "-- imported 5, already here 0, finished 0, broken 1, failed 0") {
		t.Errorf("import: exit %d\n%s", code, out)
	}
	msgs := sink.WaitMessages(t, 5, mgtest.Timeout)
	out, _ = b.Run("", "queue", "import", a.DataDir, "-config", b.ConfigPath)
	if !strings.Contains(out, "-- imported 0, already here 0, finished 0, broken 1, failed 0") {
		t.Errorf("second import:\n%s", out)
	}
	a.Restart()
	a.WaitLog("msg=\"queue recovered\" messages=0 broken=1")
	time.Sleep(2 * time.Second) // room for a wrong delivery to show
	got := map[string]int{}
	for _, m := range sink.Messages() {
		for _, tok := range tokens {
			if strings.Contains(string(m.Raw), "token "+tok+"\r\n") {
				got[tok]++
			}
		}
	}
	for _, tok := range tokens[:5] {
		if got[tok] != 1 {
			t.Errorf("%s delivered %d times; want exactly once", tok, got[tok])
		}
	}
	if got["imp-6"] != 0 || len(msgs) < 5 {
		t.Errorf("the damaged message was delivered (%d), or fewer than 5 arrived", got["imp-6"])
	}
}

// damage flips the last byte of a spool file's message.
func damage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
