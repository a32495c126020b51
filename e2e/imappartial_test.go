package e2e

import (
	"strings"
	"testing"
)

// partialPy pages through a mailbox of six messages with Python's
// imaplib over STARTTLS (argv = host port cafile user password) the way
// a webmail does with RFC 9394: the last two UIDs by UID SEARCH, a sorted
// page, a UID FETCH page, SAVE of a page for "$", SORT with the MODSEQ
// key, and a malformed range. ESEARCH tags are printed as T.
const partialPy = `import imaplib, re, ssl, sys
host, port, cafile, user, pw = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
m = imaplib.IMAP4(host, int(port))
m.starttls(ssl_context=ctx)
m.login(user, pw)
print("capability", "PARTIAL" in m.capability()[1][0].decode().split())
for i in range(6):
    m.append("INBOX", None, None, ("Subject: page %d\r\n\r\nbody %d\r\n" % (i, i)).encode())
m.select("INBOX")
def esearch(step):
    got = m.untagged_responses.pop("ESEARCH", [])
    print(step, "|", " / ".join(re.sub(r'\(TAG "[^"]+"\)', "T", g.decode()) for g in got))
m.uid("SEARCH", "RETURN (PARTIAL -1:-2) ALL")
esearch("uid search last 2")
m.uid("SEARCH", "RETURN (COUNT PARTIAL 5:10) ALL")
esearch("uid search 5:10")
m._simple_command("SORT", "RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL")
esearch("sort newest 2")
typ, data = m.uid("FETCH", "1:*", "(UID) (PARTIAL -1:-2)")
print("uid fetch last 2 |", typ, [d.decode() for d in data])
m.uid("SEARCH", "RETURN (SAVE PARTIAL 2:3) ALL")
typ, data = m.uid("FETCH", "$", "(UID)")
print("saved page |", typ, [d.decode() for d in data])
typ, data = m.sort("(REVERSE ARRIVAL)", "UTF-8", "MODSEQ", "5")
print("sort modseq |", typ, [d.decode() for d in data])
try:
    m.uid("SEARCH", "RETURN (PARTIAL 0:5) ALL")
except imaplib.IMAP4.error as e:
    print("bad range |", e)
m.logout()
`

// TestIMAPPartialPaging is RFC 9394 PARTIAL through the binary with a
// real client: SEARCH, SORT and UID FETCH pages from the start and from
// the end, SAVE of a page, SORT's MODSEQ (RFC 7162), and the BAD reply
// of a range with 0.
func TestIMAPPartialPaging(t *testing.T) {
	t.Parallel()
	got := runImaplib(t, partialPy)
	want := strings.Join([]string{
		"capability True",
		"uid search last 2 | T UID PARTIAL (-1:-2 5:6)",
		"uid search 5:10 | T UID COUNT 6 PARTIAL (5:10 5:6)",
		"sort newest 2 | T PARTIAL (1:2 6,5)",
		"uid fetch last 2 | OK ['5 (UID 5)', '6 (UID 6)']",
		"saved page | OK ['2 (UID 2)', '3 (UID 3)']",
		"sort modseq | OK ['6 5 4 (MODSEQ 7)']",
		`bad range | UID command error: BAD [b'[CLIENTBUG] SEARCH syntax error: PARTIAL range "0:5" is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)']`,
	}, "\n")
	if got != want {
		t.Errorf("imaplib saw:\n%s\nwant:\n%s", got, want)
	}
}
