package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// uidlScript lists the maildrop's UIDLs with poplib ("n uidl" lines),
// then deletes the given message numbers and quits (deletion at QUIT).
const uidlScript = `import poplib, ssl, sys
host, port, cafile, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
c = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
c.user(user)
c.pass_(password)
_, lines, _ = c.uidl()
for l in lines:
    print(l.decode())
for n in sys.argv[6:]:
    c.dele(int(n))
c.quit()
`

// TestPOP3UIDLUniqueAcrossUIDValidity: a POP3 client that leaves mail on
// the server (Python's poplib over pop3s) must never see a UIDL twice
// for two messages. Three messages arrive over SMTP; the client deletes
// the first. mailgate is killed and INBOX's index is damaged, so INBOX
// gets a new UIDVALIDITY and its UIDs start again at 1. Two more messages
// arrive: the kept messages keep their UIDLs and the new ones get UIDLs
// no message ever had, the deleted one's included.
func TestPOP3UIDLUniqueAcrossUIDValidity(t *testing.T) {
	t.Parallel()
	srv := startFull(t, mgtest.Options{})
	for i := range 3 {
		sendPlain(t, srv.Addr["smtp"], "someone@sender.test", user, testMessage(fmt.Sprint("uidl-", i)))
	}
	waitDelivered(t, srv, 3)
	dir := t.TempDir()
	script := writeFile(t, dir, "uidl.py", uidlScript)
	list := func(dele ...string) map[string]string {
		h, p := hostPort(srv.Addr["pop3s"])
		args := append([]string{script, h, p, certFile(srv), user, pass}, dele...)
		out := run(t, dir, "", testenv.Tool(t, "python3"), args...)
		ids := map[string]string{} // uidl -> message number
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			n, id, ok := strings.Cut(strings.TrimSpace(l), " ")
			if !ok || id == "" {
				t.Fatalf("poplib UIDL line %q in:\n%s", l, out)
			}
			if _, dup := ids[id]; dup {
				t.Fatalf("UIDL %q given to two messages:\n%s", id, out)
			}
			ids[id] = n
		}
		return ids
	}
	before := list("1")
	if len(before) != 3 {
		t.Fatalf("UIDLs before: %v, want 3", before)
	}
	var deleted string
	for id, n := range before {
		if n == "1" {
			deleted = id
		}
	}
	srv.Kill()
	index := filepath.Join(srv.MailDir(), user, "mailgate-index")
	f, err := os.OpenFile(index, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("a record no version wrote\n")
	f.Close()
	srv.Restart()
	for i := 3; i < 5; i++ {
		sendPlain(t, srv.Addr["smtp"], "someone@sender.test", user, testMessage(fmt.Sprint("uidl-", i)))
	}
	waitDelivered(t, srv, 5)
	if _, err := os.Stat(index + ".broken"); err != nil {
		t.Fatalf("the damaged index was not moved aside (no new UIDVALIDITY): %v", err)
	}
	after := list()
	if len(after) != 4 {
		t.Fatalf("UIDLs after: %v, want 4", after)
	}
	if _, back := after[deleted]; back {
		t.Errorf("the deleted message's UIDL %q came back for another message: %v", deleted, after)
	}
	kept := 0
	for id := range before {
		if _, ok := after[id]; ok {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d of the 2 kept messages kept their UIDL: before %v, after %v", kept, before, after)
	}
}
