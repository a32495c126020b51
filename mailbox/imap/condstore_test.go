package imap

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/mailbox"
)

// step is one command and the lines its reply must hold, in order
// (other lines may come between them).
type step struct {
	cmd  string
	want []string
}

// run sends each step's command and checks its reply.
func (c *rawConn) run(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		c.send(s.cmd + "\r\n")
		lines := c.until(strings.Fields(s.cmd)[0] + " ")
		i := 0
		for _, l := range lines {
			if i < len(s.want) && l == s.want[i] {
				i++
			}
		}
		if i < len(s.want) {
			t.Errorf("%s:\n%s\nmissing (in this order from): %q", s.cmd, strings.Join(lines, "\n"), s.want[i:])
		}
	}
}

// condstoreEnv starts a server with three messages in alice's INBOX,
// their \Recent already claimed, and returns a logged-in raw connection.
func condstoreEnv(t *testing.T) (*testEnv, *rawConn) {
	env := startServer(t, nil)
	for _, subj := range []string{"one", "two", "three"} {
		env.store.Deliver(context.Background(), alice, "", []byte("Subject: "+subj+"\r\n\r\nbody\r\n"), false)
	}
	if _, err := env.store.ClaimRecent(alice, "INBOX", 100, true); err != nil {
		t.Fatal(err)
	}
	return env, loginRaw(t, env)
}

// TestCondstoreReplies checks CONDSTORE's exact reply lines: MODSEQs
// start at 2 (the three deliveries have 2, 3, 4) and each change takes
// the next.
func TestCondstoreReplies(t *testing.T) {
	t.Parallel()
	_, c := condstoreEnv(t)
	c.run(t, []step{
		{"b SELECT INBOX", []string{"b OK [READ-WRITE] SELECT completed"}},
		{"c FETCH 1 (FLAGS)", []string{`* 1 FETCH (UID 1 FLAGS ())`, "c OK FETCH completed"}},
		// A CONDSTORE enabling command tells the HIGHESTMODSEQ first.
		{"d FETCH 1 (MODSEQ)", []string{"* OK [HIGHESTMODSEQ 4] Highest", "* 1 FETCH (UID 1 MODSEQ (2))"}},
		{"e FETCH 2 (FLAGS)", []string{"* 2 FETCH (UID 2 FLAGS () MODSEQ (3))"}},
		{`f STORE 1 +FLAGS (\Seen)`, []string{`* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))`, "f OK STORE completed"}},
		{`g STORE 1,2 (UNCHANGEDSINCE 4) +FLAGS (\Flagged)`,
			[]string{`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (6))`, "g OK [MODIFIED 1] STORE completed"}},
		{`h UID STORE 3 (UNCHANGEDSINCE 0) +FLAGS (\Seen)`, []string{"h OK [MODIFIED 3] UID STORE completed"}},
		{"i FETCH 1:* (FLAGS) (CHANGEDSINCE 5)", []string{`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (6))`, "i OK FETCH completed"}},
		{"j UID FETCH 1:* (UID) (CHANGEDSINCE 0)", []string{"* 1 FETCH (UID 1 MODSEQ (5))",
			"* 2 FETCH (UID 2 MODSEQ (6))", "* 3 FETCH (UID 3 MODSEQ (4))"}},
		{"k UID SEARCH MODSEQ 5", []string{"* SEARCH 1 2 (MODSEQ 6)"}},
		{"l SEARCH MODSEQ 7", []string{"* SEARCH", "l OK SEARCH completed"}},
		{`m SEARCH RETURN (MIN) MODSEQ "/flags/\\seen" all 5`, []string{`* ESEARCH (TAG "m") MIN 1 MODSEQ 5`}},
		{`n SEARCH RETURN (COUNT) NOT MODSEQ 5`, []string{`* ESEARCH (TAG "n") COUNT 1 MODSEQ 4`}},
		// SORT and ESORT carry the MODSEQ of what they return, in sort order.
		{"n1 SORT (REVERSE ARRIVAL) UTF-8 MODSEQ 4", []string{"* SORT 3 2 1 (MODSEQ 6)"}},
		{"n2 UID SORT (ARRIVAL) UTF-8 NOT MODSEQ 5", []string{"* SORT 3 (MODSEQ 4)"}},
		{"n3 SORT RETURN (MIN) (REVERSE ARRIVAL) UTF-8 MODSEQ 4", []string{`* ESEARCH (TAG "n3") MIN 3 MODSEQ 4`}},
		{"n4 SORT RETURN (COUNT MAX) (ARRIVAL) UTF-8 MODSEQ 4", []string{`* ESEARCH (TAG "n4") COUNT 3 MAX 3 MODSEQ 6`}},
		{"n5 SORT RETURN (PARTIAL 2:2) (ARRIVAL) UTF-8 MODSEQ 4", []string{`* ESEARCH (TAG "n5") PARTIAL (2:2 2) MODSEQ 6`}},
		{"n6 UID SEARCH RETURN (PARTIAL -1:-1) MODSEQ 4", []string{`* ESEARCH (TAG "n6") UID PARTIAL (-1:-1 3) MODSEQ 4`}},
		{"n7 SORT (ARRIVAL) UTF-8 MODSEQ 7", []string{"* SORT", "n7 OK SORT completed"}},
		{"n8 SORT (ARRIVAL) UTF-8 ALL", []string{"* SORT 1 2 3", "n8 OK SORT completed"}},
		{`o STORE 3 +FLAGS.SILENT (\Deleted)`, []string{"* 3 FETCH (UID 3 MODSEQ (7))", "o OK STORE completed"}},
		{`p STORE 3 +FLAGS.SILENT (\Deleted)`, []string{"p OK STORE completed"}},
		{"q STATUS INBOX (HIGHESTMODSEQ MESSAGES)", []string{"* STATUS INBOX (MESSAGES 3 HIGHESTMODSEQ 7)"}},
		{"r CREATE Empty", nil},
		{"s STATUS Empty (HIGHESTMODSEQ)", []string{`* STATUS "Empty" (HIGHESTMODSEQ 1)`}},
		{"t EXAMINE Empty", []string{"* OK [HIGHESTMODSEQ 1] Highest", "t OK [READ-ONLY] EXAMINE completed"}},
		{`u LIST "" INBOX RETURN (STATUS (HIGHESTMODSEQ))`, []string{"* STATUS INBOX (HIGHESTMODSEQ 7)"}},
	})
}

// TestCondstoreMistakes checks the replies to malformed CONDSTORE and
// QRESYNC arguments, and QRESYNC without ENABLE.
func TestCondstoreMistakes(t *testing.T) {
	t.Parallel()
	_, c := condstoreEnv(t)
	c.run(t, []step{
		{"b SELECT INBOX (QRESYNC (1 2))", []string{"b BAD SELECT: QRESYNC needs ENABLE QRESYNC first"}},
		{"c SELECT INBOX (FOO)", []string{`c BAD SELECT: unknown parameter "FOO"; use CONDSTORE or QRESYNC`}},
		{"d SELECT INBOX", []string{"d OK [READ-WRITE] SELECT completed"}},
		{"e FETCH 1 (FLAGS) (CHANGEDSINCE abc)",
			[]string{`e BAD FETCH: CHANGEDSINCE needs a mod-sequence: a number from 0 to 9223372036854775807, not "abc"`}},
		{"f FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)",
			[]string{`f BAD FETCH: CHANGEDSINCE needs a mod-sequence: a number from 0 to 9223372036854775807, not "99999999999999999999"`}},
		{"g FETCH 1 (FLAGS) (CHANGEDSINCE)",
			[]string{`g BAD FETCH: CHANGEDSINCE needs a mod-sequence: a number from 0 to 9223372036854775807`}},
		{"h FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)", []string{"h BAD FETCH: VANISHED is for UID FETCH only"}},
		{"i UID FETCH 1 (FLAGS) (VANISHED)",
			[]string{"i BAD UID FETCH: VANISHED needs CHANGEDSINCE, as in (CHANGEDSINCE 12345 VANISHED)"}},
		{"j UID FETCH 1 (FLAGS) (CHANGEDSINCE 5 VANISHED)", []string{"j BAD UID FETCH: VANISHED needs ENABLE QRESYNC first"}},
		{"k FETCH 1 (FLAGS) (PRIORITY 5)", []string{`k BAD FETCH: unknown FETCH modifier "PRIORITY"; use CHANGEDSINCE, VANISHED or (UID FETCH) PARTIAL`}},
		{`l STORE 1 (UNCHANGEDSINCE) +FLAGS (\Seen)`,
			[]string{`l BAD STORE: UNCHANGEDSINCE needs a mod-sequence: a number from 0 to 9223372036854775807`}},
		{`m STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\Seen)`,
			[]string{`m BAD STORE: UNCHANGEDSINCE needs a mod-sequence: a number from 0 to 9223372036854775807, not "-1"`}},
		{`n STORE 1 (CHANGEDSINCE 1) +FLAGS (\Seen)`, []string{`n BAD STORE: unknown STORE modifier "CHANGEDSINCE"; use UNCHANGEDSINCE`}},
		{`o STORE 1 () +FLAGS (\Seen)`, []string{`o BAD STORE: STORE modifiers: write (UNCHANGEDSINCE n) or leave them out`}},
		{"p SEARCH MODSEQ x", []string{`p BAD [CLIENTBUG] SEARCH syntax error: MODSEQ needs a mod-sequence, a number from 0 to 9223372036854775807, not "x"`}},
		{`q SEARCH MODSEQ "/flags/\\seen" mine 1`, []string{`q BAD [CLIENTBUG] SEARCH syntax error: MODSEQ entry type is priv, shared or all, not "mine"`}},
		{"r ENABLE QRESYNC", []string{"* OK [HIGHESTMODSEQ 4] Highest", "* ENABLED QRESYNC", "r OK ENABLE completed"}},
		{"s ENABLE CONDSTORE QRESYNC", []string{"* ENABLED", "s OK ENABLE completed"}},
		{"t SELECT INBOX (QRESYNC (0 2))", []string{`t BAD SELECT: QRESYNC needs the UIDVALIDITY the client knows, a number above 0, not "0"`}},
		{"u SELECT INBOX (QRESYNC (1 0))", []string{"u BAD SELECT: QRESYNC needs the HIGHESTMODSEQ the client knows, a number above 0"}},
		{"v SELECT INBOX (QRESYNC (1 2 1:x))", []string{`v BAD [CLIENTBUG] Invalid sequence set (bad number set value "1:x"); message numbers and UIDs start at 1, use * for the last`}},
		{"w SELECT INBOX (QRESYNC (1 2 1:3 (1:2)))", []string{"w BAD SELECT: QRESYNC takes (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]])"}},
		{"x SELECT INBOX (QRESYNC (1 2 1:3 (1:2 1:2)))", []string{"x OK [READ-WRITE] SELECT completed"}},
	})
}

var uidValidityRE = regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`)

// TestQresyncReplies: a session with QRESYNC hears another session's
// expunges as VANISHED, and a later one resynchronises with SELECT
// (QRESYNC ...) and UID FETCH ... (CHANGEDSINCE n VANISHED).
func TestQresyncReplies(t *testing.T) {
	t.Parallel()
	env, a := condstoreEnv(t)
	a.send("b ENABLE QRESYNC\r\nc SELECT INBOX\r\n")
	lines := a.until("c ")
	m := uidValidityRE.FindStringSubmatch(strings.Join(lines, "\n"))
	if m == nil || !strings.Contains(strings.Join(lines, "\n"), "* OK [HIGHESTMODSEQ 4] Highest") {
		t.Fatalf("SELECT after ENABLE QRESYNC:\n%s", strings.Join(lines, "\n"))
	}
	uv := m[1]
	other := loginRaw(t, env)
	other.run(t, []step{
		{"b SELECT INBOX", nil},
		{`c STORE 1 +FLAGS.SILENT (\Seen)`, nil},        // MODSEQ 5
		{`d STORE 2 +FLAGS.SILENT (\Deleted)`, nil},     // 6
		{"e EXPUNGE", []string{"* 2 EXPUNGE"}},          // 7
		{`f UID STORE 3 +FLAGS.SILENT (\Flagged)`, nil}, // 8
	})
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: four\r\n\r\nbody\r\n"), false) // UID 4, 9
	a.run(t, []step{
		{"d NOOP", []string{`* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (5))`, `* 3 FETCH (UID 3 FLAGS (\Flagged) MODSEQ (8))`,
			"* VANISHED 2", "* 3 EXISTS", "d OK NOOP completed"}},
		{`e STORE 1 +FLAGS.SILENT (\Deleted)`, []string{"* 1 FETCH (UID 1 MODSEQ (10))"}},
		{"f EXPUNGE", []string{"* VANISHED 1", "f OK EXPUNGE completed"}},
		{"g CREATE Archive", nil},
		{"h UID MOVE 3 Archive", []string{"* VANISHED 3", "h OK UID MOVE completed"}},
		{"i LOGOUT", nil},
	})
	// A client that knew UIDs 1:3 at HIGHESTMODSEQ 4 resynchronises.
	c := loginRaw(t, env)
	c.run(t, []step{
		{"b ENABLE QRESYNC", []string{"* ENABLED QRESYNC"}},
		{"c SELECT INBOX (QRESYNC (" + uv + " 4 1:3))", []string{"* 1 EXISTS", "* OK [HIGHESTMODSEQ 12] Highest",
			"* VANISHED (EARLIER) 1:3", "c OK [READ-WRITE] SELECT completed"}},
		{"d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4 VANISHED)", []string{"* VANISHED (EARLIER) 1:3",
			"* 1 FETCH (UID 4 FLAGS () MODSEQ (9))", "d OK UID FETCH completed"}},
		{"e UID FETCH 2:3 (FLAGS) (CHANGEDSINCE 4 VANISHED)", []string{"* VANISHED (EARLIER) 2:3", "e OK UID FETCH completed"}},
		{"f SELECT INBOX (QRESYNC (" + uv + " 4 2,4))", []string{"* OK [CLOSED] Previous mailbox is now closed",
			"* VANISHED (EARLIER) 2", "* 1 FETCH (UID 4 FLAGS () MODSEQ (9))", "f OK [READ-WRITE] SELECT completed"}},
		{"g SELECT INBOX (QRESYNC (1 4))", []string{"* OK [HIGHESTMODSEQ 12] Highest", "g OK [READ-WRITE] SELECT completed"}},
		{"h CLOSE", []string{"h OK CLOSE completed"}},
	})
}

// TestUIDRanges: a client's UID set in any order, overlapping, becomes
// sorted ranges; intersecting and subtracting give exact ranges.
func TestUIDRanges(t *testing.T) {
	t.Parallel()
	set := goimap.UIDSet{{Start: 9, Stop: 7}, {Start: 1, Stop: 3}, {Start: 3, Stop: 4}, {Start: 20, Stop: 20}}
	u := sortRanges(set)
	if want := (uidRanges{{First: 1, Last: 4}, {First: 7, Last: 9}, {First: 20, Last: 20}}); !reflect.DeepEqual(u, want) {
		t.Fatalf("sortRanges = %v, want %v", u, want)
	}
	if !u.contains(8) || u.contains(5) || !u.contains(20) || u.contains(21) {
		t.Errorf("contains is wrong for %v", u)
	}
	got := u.intersect([]mailbox.UIDRange{{First: 2, Last: 8}, {First: 15, Last: 30}})
	if want := []mailbox.UIDRange{{First: 2, Last: 4}, {First: 7, Last: 8}, {First: 20, Last: 20}}; !reflect.DeepEqual(got, want) {
		t.Errorf("intersect = %v, want %v", got, want)
	}
	sub := subtractUIDs([]mailbox.UIDRange{{First: 1, Last: 10}, {First: 4294967290, Last: 4294967295}}, []uint32{1, 5, 6, 10, 4294967295})
	if want := []mailbox.UIDRange{{First: 2, Last: 4}, {First: 7, Last: 9}, {First: 4294967290, Last: 4294967294}}; !reflect.DeepEqual(sub, want) {
		t.Errorf("subtractUIDs = %v, want %v", sub, want)
	}
	// A long client set against a long expunge log stays cheap: one
	// binary search per range, not a scan.
	var long goimap.UIDSet
	for i := uint32(0); i < 20000; i++ {
		long = append(long, goimap.UIDRange{Start: goimap.UID(3*i + 1), Stop: goimap.UID(3*i + 1)})
	}
	var log []mailbox.UIDRange
	for i := uint32(0); i < 100000; i++ {
		log = append(log, mailbox.UIDRange{First: 2*i + 1, Last: 2*i + 1})
	}
	if n := len(sortRanges(long).intersect(log)); n != 10000 {
		t.Errorf("intersect of the long sets: %d ranges, want 10000", n)
	}
}

// TestQresyncHighestModSeqWhileExpungesWait: during FETCH an expunge by
// another session waits, while the FETCH shows a MODSEQ above it; the
// client is then told the HIGHESTMODSEQ from before the expunge, and
// after NOOP reports the expunge, the new one.
func TestQresyncHighestModSeqWhileExpungesWait(t *testing.T) {
	t.Parallel()
	env, a := condstoreEnv(t) // MODSEQs 2, 3, 4
	a.run(t, []step{{"b ENABLE QRESYNC", nil}, {"c SELECT INBOX", []string{"* OK [HIGHESTMODSEQ 4] Highest"}}})
	other := loginRaw(t, env)
	other.run(t, []step{
		{"b SELECT INBOX", nil},
		{`c UID STORE 2 +FLAGS.SILENT (\Deleted)`, nil}, // 5
		{"d EXPUNGE", nil},                              // 6
		{`e UID STORE 1 +FLAGS.SILENT (\Seen)`, nil},    // 7
	})
	a.run(t, []step{
		{"d FETCH 1 (FLAGS)", []string{`* 1 FETCH (UID 1 FLAGS (\Seen) MODSEQ (7))`, "* OK [HIGHESTMODSEQ 4] Highest",
			"d OK FETCH completed"}},
		{"e NOOP", []string{"* VANISHED 2", "* OK [HIGHESTMODSEQ 7] Highest", "e OK NOOP completed"}},
		{"f NOOP", []string{"f OK NOOP completed"}},
	})
}
