package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// dnsblZone lists 127.0.0.2 in bl.test, with a reason that tries to
// smuggle a reply line; refused.test answers 127.0.0.4 with Spamhaus's
// "query through a public resolver" code; every other name is NXDOMAIN.
var dnsblZone = []string{
	"2.0.0.127.bl.test. 300 IN A 127.0.0.2",
	`2.0.0.127.bl.test. 300 IN TXT "Listed in bl.test\013\010250 OK; see https://bl.test/q?127.0.0.2"`, // CR LF
	"4.0.0.127.refused.test. 300 IN A 127.255.255.254",
}

const dnsblBlock = `filters:
  dnsbl:
    lists:
      - zone: bl.test
        weight: 2
      - zone: refused.test
        weight: 2
    threshold: 2
    timeout: 2s
`

// startDNSBL starts mailgate with dnsbl on its MX listener, asking
// dnsAddr, and bob@localhost's mailbox.
func startDNSBL(t *testing.T, dnsAddr string) *mgtest.Server {
	t.Helper()
	return mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp", "http"}, DNS: dnsAddr,
		Filters: map[string][]string{"smtp": {"dnsbl"}}, Config: dnsblBlock,
		Users: map[string]string{"bob@localhost": "bob password 1"}})
}

// mxFrom sends one message to bob@localhost with Python's smtplib from
// address src over STARTTLS, as another mail server would, and returns
// the reply to each of MAIL, RCPT and DATA (it stops at a refusal).
func mxFrom(t *testing.T, srv *mgtest.Server, src, subject string) []string {
	t.Helper()
	e := &promiseEnv{srv: srv, python: testenv.Tool(t, "python3"), script: filepath.Join(t.TempDir(), "smtp_driver.py")}
	if err := os.WriteFile(e.script, []byte(smtpDriver), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := "From: x@sender.example\r\nTo: bob@localhost\r\nSubject: " + subject + "\r\n\r\nHello.\r\n"
	return e.smtplib(t, conversation{Mode: "starttls", Port: portOf(srv.Addr["smtp"]), Src: src,
		Steps: [][]string{{"mail", "x@sender.example"}, {"rcpt", "bob@localhost"}, {"data", msg}}})
}

// TestDNSBLListedCleanAndRefused: through the binary, with smtplib from
// three loopback addresses: the listed one gets Postfix's 554 naming the
// zone and the TXT reason (its CR LF made a space) at MAIL FROM, and
// nothing of it is kept; the clean one is delivered to the mailbox; the
// one a list answers with an error code is accepted, with a warning that
// names the zone and the answer. The metrics count all three.
func TestDNSBLListedCleanAndRefused(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnsblZone...)
	srv := startDNSBL(t, dns.Addr)

	listed := mxFrom(t, srv, "127.0.0.2", "dnsbl-listed")
	want := "554 5.7.1 Service unavailable; client [127.0.0.2] listed by bl.test: Listed in bl.test 250 OK; see https://bl.test/q?127.0.0.2"
	if len(listed) != 1 || listed[0] != want {
		t.Fatalf("listed client: replies %q\nwant [%q]", listed, want)
	}
	if line := srv.WaitLog("filter=dnsbl result=listed"); !strings.Contains(line, "sender <x@sender.example>") {
		t.Errorf("the refusal's log line does not name the sender: %s", line)
	}

	clean := mxFrom(t, srv, "127.0.0.3", "dnsbl-clean")
	if len(clean) != 3 || !queuedLineRE.MatchString(clean[2]) {
		t.Fatalf("clean client: replies %q", clean)
	}
	if stored := waitStored(t, srv, "bob@localhost", "dnsbl-clean"); strings.Contains(stored, "X-Mailgate-Verdict") {
		t.Errorf("a clean client's message was tagged:\n%s", stored)
	}

	refused := mxFrom(t, srv, "127.0.0.4", "dnsbl-refused")
	if len(refused) != 3 || !queuedLineRE.MatchString(refused[2]) {
		t.Fatalf("client whose list refused the query: replies %q", refused)
	}
	line := srv.WaitLog("zone=refused.test")
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "the list answered 127.255.255.254") {
		t.Errorf("no warning naming the zone and the answer: %s", line)
	}
	waitStored(t, srv, "bob@localhost", "dnsbl-refused")
	if where := findSubject(t, srv.DataDir, "dnsbl-listed"); where != "" {
		t.Errorf("the listed client's message was kept: %s", where)
	}

	s := scrapeMetrics(t, srv)
	for _, m := range []struct {
		name   string
		labels []string
	}{
		{"mailgate_filters_dnsbl_lookups_total", []string{"zone", "bl.test", "result", "listed"}},
		{"mailgate_filters_dnsbl_lookups_total", []string{"zone", "refused.test", "result", "error"}},
		{"mailgate_filters_verdicts_total", []string{"filter", "dnsbl", "result", "listed", "action", "reject"}},
		{"mailgate_filters_verdicts_total", []string{"filter", "dnsbl", "result", "clean", "action", "accept"}},
		{"mailgate_filters_verdicts_total", []string{"filter", "dnsbl", "result", "temperror", "action", "accept"}},
	} {
		if v, _ := s.value(m.name, m.labels...); v != 1 {
			t.Errorf("%s%v = %v, want 1", m.name, m.labels, v)
		}
	}
}

// TestDNSBLSilentDNSServer: a DNS server that never answers does not
// stop mail: after the timeout the client is accepted (temperror), the
// message delivered, and the failure logged.
func TestDNSBLSilentDNSServer(t *testing.T) {
	t.Parallel()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	srv := startDNSBL(t, silent.LocalAddr().String())
	start := time.Now()
	replies := mxFrom(t, srv, "127.0.0.5", "dnsbl-silent")
	if len(replies) != 3 || !queuedLineRE.MatchString(replies[2]) {
		t.Fatalf("replies %q; want the message accepted", replies)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the transaction took %v with a 2s timeout", d)
	}
	for _, zone := range []string{"bl.test", "refused.test"} {
		if line := srv.WaitLog("zone=" + zone); !strings.Contains(line, `level=WARN msg="dnsbl lookup failed"`) {
			t.Errorf("the failure of %s: %s", zone, line)
		}
	}
	waitStored(t, srv, "bob@localhost", "dnsbl-silent")
}

// findSubject returns a file under dir holding a message with subject,
// "" if there is none.
func findSubject(t *testing.T, dir, subject string) string {
	t.Helper()
	var found string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && found == "" {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("Subject: "+subject+"\r\n")) {
				found = p
			}
		}
		return nil
	})
	return found
}

// TestDNSBLCheckConfig: check-config names the file and line of each
// mistake in a dnsbl block, and of a listener that runs dnsbl without one.
func TestDNSBLCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	head := "hostname: mail.example.com\ndata_dir: " + dir + "\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:2525\n    filters: [dnsbl]\n"
	bad := writeFile(t, dir, "bad.yaml", head+`filters:
  dnsbl:
    lists:
      - zone: zen.spamhaus.org
        weight: 0
        responses: [127.0.0.2-127.0.0.11, 127.0.0.300]
      - zone: "dbl spamhaus org"
        type: rhsbl
    threshold: 0
    skip: [10.0.0.0/8, office]
    timeout: 0s
`)
	want := strings.Join([]string{
		bad + `:12: filters.dnsbl.lists[0].weight: must be more than 0; write a weight such as 1`,
		bad + `:13: filters.dnsbl.lists[0].responses[1]: "127.0.0.300" is not an IPv4 address, CIDR or range; write one such as 127.0.0.2, 127.0.0.0/24 or 127.0.0.2-127.0.0.11`,
		bad + `:14: filters.dnsbl.lists[1].zone: "dbl spamhaus org" is not a DNS zone; write the blocklist's zone, such as zen.spamhaus.org`,
		bad + `:15: filters.dnsbl.lists[1].type: "rhsbl" is not a list type; write ip (the client's address) or domain (its HELO name and MAIL FROM domain)`,
		bad + `:16: filters.dnsbl.threshold: 0 is not more than 0; write a total weight such as 1`,
		bad + `:17: filters.dnsbl.skip[1]: "office" is not a network; write a CIDR such as 10.0.0.0/8 or an address such as 192.0.2.25`,
		bad + `:18: filters.dnsbl.timeout: must be more than 0; write a duration such as 20s`,
	}, "\n") + "\n"
	if out, code := mgtest.Run(t, dir, "", "check-config", bad); code != 1 || out != want {
		t.Errorf("check-config: exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, want)
	}
	none := writeFile(t, dir, "none.yaml", head)
	want = none + ":7: listeners[0].filters[0]: dnsbl needs its blocklists; add filters.dnsbl.lists, such as - zone: zen.spamhaus.org\n"
	if out, code := mgtest.Run(t, dir, "", "check-config", none); code != 1 || out != want {
		t.Errorf("check-config without a block: exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, want)
	}
}
