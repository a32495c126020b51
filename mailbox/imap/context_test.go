package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// deliverN puts n messages "Subject: note i" in alice's INBOX.
func deliverN(t *testing.T, env *testEnv, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		msg := fmt.Sprintf("From: x%d@example.org\r\nSubject: note %d\r\n\r\nbody %d\r\n", i, i, i)
		if err := env.store.Deliver(context.Background(), alice, "", []byte(msg), false); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSearchPartial: RETURN (PARTIAL) of SEARCH and SORT (RFC 5267 §4.4,
// RFC 9394): ranges from the start and from the end, reversed ranges
// echoed in order, ranges past the results, SAVE of the part returned,
// and every malformed range answered BAD with what to write instead.
func TestSearchPartial(t *testing.T) {
	t.Parallel()
	c := fiveSelected(t)
	badRange := func(tag, r string) string {
		return tag + ` BAD [CLIENTBUG] SEARCH syntax error: PARTIAL range "` + r +
			`" is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)`
	}
	steps := []struct{ cmd, want string }{
		{"a SEARCH RETURN (PARTIAL 1:2) ALL", `* ESEARCH (TAG "a") PARTIAL (1:2 1:2)`},
		{"b SEARCH RETURN (PARTIAL -1:-2) ALL", `* ESEARCH (TAG "b") PARTIAL (-1:-2 4:5)`},
		{"c SEARCH RETURN (PARTIAL -3:-1) ALL", `* ESEARCH (TAG "c") PARTIAL (-1:-3 3:5)`},
		{"d UID SEARCH RETURN (PARTIAL 4:2 COUNT) ALL", `* ESEARCH (TAG "d") UID COUNT 5 PARTIAL (2:4 2:4)`},
		{"e SEARCH RETURN (PARTIAL -6:-9) ALL", `* ESEARCH (TAG "e") PARTIAL (-6:-9 NIL)`},
		{"f SEARCH RETURN (PARTIAL 1:100) 2,4", `* ESEARCH (TAG "f") PARTIAL (1:100 2,4)`},
		{"g SEARCH RETURN (MIN PARTIAL -1:-1) 1:3", `* ESEARCH (TAG "g") MIN 1 PARTIAL (-1:-1 3)`},
		{"h SORT RETURN (PARTIAL -1:-2) (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "h") PARTIAL (-1:-2 2,1)`},
		{"i SORT RETURN (PARTIAL 2:3) (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "i") PARTIAL (2:3 4,3)`},
		{"j SEARCH RETURN (PARTIAL 1) ALL", badRange("j", "1")},
		{"k SEARCH RETURN (PARTIAL 1:*) ALL", badRange("k", "1:*")},
		{"l SEARCH RETURN (PARTIAL 0:5) ALL", badRange("l", "0:5")},
		{"m SEARCH RETURN (PARTIAL -1:5) ALL", badRange("m", "-1:5")},
		{"n SEARCH RETURN (PARTIAL 1:4294967296) ALL", badRange("n", "1:4294967296")},
		{"o SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "o BAD [CLIENTBUG] SEARCH syntax error: RETURN may hold PARTIAL or ALL, not both"},
		{"p SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "p BAD [CLIENTBUG] SEARCH syntax error: PARTIAL given twice in RETURN"},
		{"q SEARCH RETURN (PARTIAL) ALL", "q BAD [CLIENTBUG] SEARCH syntax error: PARTIAL needs a range such as 1:100 or -1:-100"},
		{"r SORT RETURN (PARTIAL 1:*) (ARRIVAL) UTF-8 ALL", `r BAD SORT: PARTIAL range "1:*" is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)`},
		{"t SEARCH RETURN (SAVE PARTIAL -1:-2) ALL", `* ESEARCH (TAG "t") PARTIAL (-1:-2 4:5)`},
		{"u SEARCH $", "* SEARCH 4 5"},
		// RFC 9394 §3.2: SAVE keeps the part returned and MIN/MAX, or
		// every result with COUNT.
		{"v SEARCH RETURN (SAVE MIN PARTIAL -1:-1) 2:4", `* ESEARCH (TAG "v") MIN 2 PARTIAL (-1:-1 4)`},
		{"w SEARCH $", "* SEARCH 2 4"},
		{"x SEARCH RETURN (SAVE COUNT PARTIAL 1:1) 2:4", `* ESEARCH (TAG "x") COUNT 3 PARTIAL (1:1 2)`},
		{"y SEARCH $", "* SEARCH 2 3 4"},
		{"z SEARCH RETURN (SAVE MAX) 2:4", `* ESEARCH (TAG "z") MAX 4`},
		{"z1 SEARCH $", "* SEARCH 4"},
	}
	for _, s := range steps {
		c.send(s.cmd + "\r\n")
		got := c.until(strings.Fields(s.cmd)[0] + " ")
		if !slices.Contains(got, s.want) {
			t.Errorf("%s:\n%s\nwant the line %q", s.cmd, strings.Join(got, "\n"), s.want)
		}
	}
}

// fiveSelected is a session with INBOX selected, holding five messages.
func fiveSelected(t *testing.T) *rawConn {
	t.Helper()
	env := startServer(t, nil)
	deliverN(t, env, 5)
	c := loginRaw(t, env)
	c.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	return c
}

// TestUIDFetchPartial: UID FETCH's PARTIAL modifier (RFC 9394 §3.3):
// positions among the messages of the set, from the end too, after
// CHANGEDSINCE; \Seen only for the page; the refusals.
func TestUIDFetchPartial(t *testing.T) {
	t.Parallel()
	c := fiveSelected(t)
	c.run(t, []step{
		{"a UID FETCH 1:* (UID) (PARTIAL -1:-2)", []string{"* 4 FETCH (UID 4)", "* 5 FETCH (UID 5)", "a OK UID FETCH completed"}},
		{"b UID FETCH 2:4 (UID) (PARTIAL 2:10)", []string{"* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)", "b OK UID FETCH completed"}},
		{"c UID FETCH 1:* (UID) (PARTIAL 6:9)", []string{"c OK UID FETCH completed"}},
		{`d UID STORE 2,4 +FLAGS.SILENT (\Flagged)`, []string{"d OK UID STORE completed"}},
		{"e UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 PARTIAL 1:1)", []string{`* 2 FETCH (UID 2 FLAGS (\Flagged \Recent) MODSEQ (7))`, "e OK UID FETCH completed"}},
		{"f UID FETCH 1:* (FLAGS) (PARTIAL -1:-1 CHANGEDSINCE 6)", []string{`* 4 FETCH (UID 4 FLAGS (\Flagged \Recent) MODSEQ (8))`, "f OK UID FETCH completed"}},
		{"g UID FETCH 1:* (BODY[]) (PARTIAL 1:1)", []string{"g OK UID FETCH completed"}},
		{"h FETCH 1:* (FLAGS)", []string{`* 1 FETCH (UID 1 FLAGS (\Seen \Recent) MODSEQ (9))`, `* 3 FETCH (UID 3 FLAGS (\Recent) MODSEQ (4))`}},
		{"i FETCH 1:* (UID) (PARTIAL 1:2)", []string{"i BAD FETCH: PARTIAL is a modifier of UID FETCH only (RFC 9394)"}},
		{"j UID FETCH 1:* (UID) (PARTIAL 1:*)", []string{`j BAD UID FETCH: PARTIAL range "1:*" is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)`}},
		{"k UID FETCH 1:* (UID) (PARTIAL)", []string{`k BAD UID FETCH: PARTIAL range "" is not valid; write two numbers of the same sign such as 1:100 or -1:-100 (no 0, no *)`}},
		{"l UID FETCH 1:* (UID) (PARTIAL 1:2 PARTIAL 3:4)", []string{"l BAD UID FETCH: PARTIAL given twice"}},
	})
}

// TestSearchContextUpdate: RETURN (UPDATE) of SEARCH, UID SEARCH and
// SORT (RFC 5267 §4.3), with another session changing flags and
// expunging, a delivery, this session's own EXPUNGE, IDLE, CANCELUPDATE
// and the refusals. Exact lines: REMOVEFROM comes before the EXPUNGE it
// announces, ADDTO after the EXISTS.
func TestSearchContextUpdate(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	deliverN(t, env, 4)
	a, b := loginRaw(t, env), loginRaw(t, env)
	b.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed") // b takes \Recent
	a.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	a.expect("s1 UID SEARCH RETURN (UPDATE COUNT) UNSEEN\r\n", `* ESEARCH (TAG "s1") UID COUNT 4`, "s1 OK UID SEARCH completed")
	a.expect("s2 SORT RETURN (UPDATE ALL) (REVERSE ARRIVAL) UTF-8 UNSEEN\r\n", `* ESEARCH (TAG "s2") ALL 4,3,2,1`, "s2 OK SORT completed")
	a.expect("s3 SEARCH RETURN (UPDATE) SEEN\r\n", `* ESEARCH (TAG "s3")`, "s3 OK SEARCH completed")

	b.has(`b1 STORE 2 +FLAGS (\Seen)`+"\r\n", "b1 OK STORE completed")
	a.expect("n1 NOOP\r\n",
		`* 2 FETCH (UID 2 FLAGS (\Seen))`,
		`* ESEARCH (TAG "s1") UID REMOVEFROM (0 2)`,
		`* ESEARCH (TAG "s2") REMOVEFROM (3 2)`,
		`* ESEARCH (TAG "s3") ADDTO (0 2)`,
		"n1 OK NOOP completed")

	b.has(`b2 STORE 3 +FLAGS.SILENT (\Deleted)`+"\r\n", "b2 OK STORE completed")
	b.has("b3 EXPUNGE\r\n", "* 3 EXPUNGE")
	a.expect("n2 NOOP\r\n",
		`* ESEARCH (TAG "s1") UID REMOVEFROM (0 3)`,
		`* ESEARCH (TAG "s2") REMOVEFROM (2 3)`,
		"* 3 EXPUNGE",
		"n2 OK NOOP completed")

	// During FETCH, EXPUNGE waits; the context already drops the message
	// (its sequence number still holds), and nothing more at the EXPUNGE.
	b.has(`b4 STORE 1 +FLAGS.SILENT (\Deleted)`+"\r\n", "b4 OK STORE completed")
	b.has("b5 EXPUNGE\r\n", "* 1 EXPUNGE")
	a.expect("f1 FETCH 3 UID\r\n", "* 3 FETCH (UID 4)",
		`* ESEARCH (TAG "s1") UID REMOVEFROM (0 1)`,
		`* ESEARCH (TAG "s2") REMOVEFROM (2 1)`,
		"f1 OK FETCH completed")
	a.expect("n3 NOOP\r\n", "* 1 EXPUNGE", "n3 OK NOOP completed")

	deliverN(t, env, 1) // UID 5, sequence number 3
	a.send("n4 NOOP\r\n")
	got := a.until("n4 ")
	want := []string{"* 3 EXISTS", `* ESEARCH (TAG "s1") UID ADDTO (0 5)`, `* ESEARCH (TAG "s2") ADDTO (1 3)`, "n4 OK NOOP completed"}
	if got = slices.DeleteFunc(got, func(l string) bool { return strings.HasSuffix(l, " RECENT") }); !slices.Equal(got, want) {
		t.Errorf("after a delivery:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	a.expect("d1 SEARCH RETURN (UPDATE) ALL\r\n", `* ESEARCH (TAG "d1")`, "d1 OK SEARCH completed")
	a.expect("s2 SEARCH RETURN (UPDATE) ALL\r\n",
		`s2 BAD [CLIENTBUG] tag "s2" already names a search context; use a new tag, or CANCELUPDATE it first`)
	a.expect(`c1 CANCELUPDATE "s1" "s3" "d1"`+"\r\n", "c1 OK CANCELUPDATE completed")
	a.expect(`c2 CANCELUPDATE "s1"`+"\r\n", "c2 NO [NONEXISTENT] No search context has the tag s1; nothing cancelled")
	a.expect("c3 CANCELUPDATE\r\n", `c3 BAD CANCELUPDATE needs at least one tag, such as CANCELUPDATE "A1"`)

	// IDLE tells at once; only s2 is left.
	a.send("i IDLE\r\n")
	if l := a.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	b.has("b0 NOOP\r\n", "* 3 EXISTS")
	b.has(`b6 UID STORE 5 +FLAGS (\Seen)`+"\r\n", "b6 OK UID STORE completed")
	if l := a.line(); !strings.HasPrefix(l, "* 3 FETCH (UID 5 FLAGS (\\Seen") {
		t.Errorf("IDLE: %q, want the flag change", l)
	}
	if l := a.line(); l != `* ESEARCH (TAG "s2") REMOVEFROM (1 3)` {
		t.Errorf("IDLE: %q, want s2's REMOVEFROM", l)
	}
	a.send("DONE\r\n")
	if l := a.line(); l != "i OK IDLE completed" {
		t.Errorf("DONE: %q", l)
	}

	// This session's own EXPUNGE: REMOVEFROM first.
	a.expect(`e1 STORE 2 +FLAGS.SILENT (\Deleted)`+"\r\n", "e1 OK STORE completed")
	a.expect("e2 EXPUNGE\r\n", `* ESEARCH (TAG "s2") REMOVEFROM (1 2)`, "* 2 EXPUNGE", "e2 OK EXPUNGE completed")

	// A context ends with its mailbox.
	a.expect("u UNSELECT\r\n", "u OK UNSELECT completed")
	a.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	a.expect(`c4 CANCELUPDATE "s2"`+"\r\n", "c4 NO [NONEXISTENT] No search context has the tag s2; nothing cancelled")
}

// TestSearchContextsBounded: past maxSearchContexts an UPDATE gets an
// untagged NO [NOUPDATE] and the command still answers (RFC 5267
// §4.3.1); a cancelled context makes room again.
func TestSearchContextsBounded(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	deliverN(t, env, 2)
	a := loginRaw(t, env)
	a.has("s SELECT INBOX\r\n", "s OK [READ-WRITE] SELECT completed")
	for i := range maxSearchContexts {
		tag := fmt.Sprintf("u%d", i)
		a.expect(tag+" SEARCH RETURN (UPDATE) ALL\r\n", `* ESEARCH (TAG "`+tag+`")`, tag+" OK SEARCH completed")
	}
	a.expect("x SEARCH RETURN (UPDATE COUNT) ALL\r\n",
		`* NO [NOUPDATE "x"] Too many search contexts (10); CANCELUPDATE one first`,
		`* ESEARCH (TAG "x") COUNT 2`,
		"x OK SEARCH completed")
	a.expect("y SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL\r\n",
		`* NO [NOUPDATE "y"] Too many search contexts (10); CANCELUPDATE one first`,
		`* ESEARCH (TAG "y")`,
		"y OK SORT completed")
	a.expect(`c CANCELUPDATE "u0"`+"\r\n", "c OK CANCELUPDATE completed")
	a.expect("z SEARCH RETURN (UPDATE) ALL\r\n", `* ESEARCH (TAG "z")`, "z OK SEARCH completed")
	a.expect(`w STORE 1 +FLAGS.SILENT (\Seen)`+"\r\n", "w OK STORE completed")
	a.expect(`v STORE 1 FLAGS.SILENT ()`+"\r\n", "v OK STORE completed")
}

// TestContextDiffSort: the REMOVEFROM and ADDTO positions of a SORT
// context, applied in order as a client does, turn the old result into
// the new one.
func TestContextDiffSort(t *testing.T) {
	t.Parallel()
	cases := []struct{ old, next []uint32 }{
		{[]uint32{9, 7, 5, 3, 1}, []uint32{9, 5, 1}},
		{[]uint32{9, 5, 1}, []uint32{10, 9, 8, 7, 5, 2, 1, 0}},
		{[]uint32{4, 3, 2, 1}, []uint32{6, 4, 1, 0}},
		{[]uint32{1, 2, 3}, []uint32{3, 2, 1}}, // order changed: all out, all in
		{nil, []uint32{2, 1}},
		{[]uint32{2, 1}, nil},
	}
	for _, tc := range cases {
		sc := &searchContext{uid: true, keys: []sortKey{{name: "ARRIVAL"}}, result: tc.old}
		items := (&view{}).diffSort(sc, tc.old, tc.next)
		if got := applyDiff(t, tc.old, items); !slices.Equal(got, tc.next) {
			t.Errorf("%v -> %v: %q gives %v", tc.old, tc.next, items, got)
		}
	}
}

// applyDiff applies " REMOVEFROM (p set) ADDTO (p set)" items to list.
func applyDiff(t *testing.T, list []uint32, items string) []uint32 {
	list = slices.Clone(list)
	f := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(items))
	for i := 0; i+2 < len(f); i += 3 {
		var pos int
		fmt.Sscan(f[i+1], &pos)
		var nums []uint32
		for _, r := range parseOrdered(t, f[i+2]) {
			nums = append(nums, r)
		}
		switch f[i] {
		case "REMOVEFROM":
			if !slices.Equal(list[pos-1:pos-1+len(nums)], nums) {
				t.Fatalf("REMOVEFROM (%d %v) on %v", pos, nums, list)
			}
			list = slices.Delete(list, pos-1, pos-1+len(nums))
		case "ADDTO":
			list = slices.Insert(list, pos-1, nums...)
		}
	}
	return list
}

// parseOrdered reads an orderedSet ("5,3:4,2").
func parseOrdered(t *testing.T, s string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		var lo, hi uint32
		if n, _ := fmt.Sscanf(part, "%d:%d", &lo, &hi); n < 2 {
			hi = lo
		}
		for u := lo; u <= hi; u++ {
			out = append(out, u)
		}
	}
	return out
}
