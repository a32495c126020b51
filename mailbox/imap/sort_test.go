package imap

import (
	"context"
	"testing"
)

// TestBaseSubject: RFC 5256 §2.1's extraction, with its reply marker.
func TestBaseSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		reply    bool
	}{
		{"Hello", "Hello", false},
		{"Re: Hello", "Hello", true},
		{"RE: re:  Fwd:Hello  (fwd) (FWD)", "Hello", true},
		{"[list] Re: [other] Hello", "Hello", true},
		{"[Fwd: Re: Hello]", "Hello", true},
		{"Reply to all", "Reply to all", false},
		{"[only a blob]", "[only a blob]", false},
		{"=?utf-8?q?R=C3=A9sum=C3=A9?=", "Résumé", false},
		{"Re [x]: \t folded\r\n subject", "folded subject", true},
	}
	for _, tc := range cases {
		if got, reply := baseSubject(tc.in); got != tc.want || reply != tc.reply {
			t.Errorf("%q: %q %v, want %q %v", tc.in, got, reply, tc.want, tc.reply)
		}
	}
}

// TestSort: SORT and UID SORT through the server: keys, REVERSE per key,
// ties by sequence number, search keys (with a literal), and the
// refusals.
func TestSort(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	msgs := []string{
		"From: Zed <zed@example.org>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nSubject: Re: beta\r\n\r\nshort\r\n",
		"From: amy@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: alpha\r\n\r\na longer body text\r\n",
		"From: bob@example.org\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\nSubject: [list] Beta\r\n\r\nthe longest body of the three messages\r\n",
	}
	for _, m := range msgs {
		env.store.Deliver(context.Background(), alice, "", []byte(m), false)
	}
	c := loginRaw(t, env)
	c.expect("b SORT (SUBJECT) UTF-8 ALL\r\n", "b BAD No mailbox selected; SELECT one first")
	c.has("c SELECT INBOX\r\n", "c OK [READ-WRITE] SELECT completed")
	steps := []struct{ cmd, want string }{
		{"d SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3"},
		{"e SORT (REVERSE SUBJECT) US-ASCII ALL", "* SORT 1 3 2"},
		{"f SORT (DATE) UTF-8 ALL", "* SORT 2 1 3"},
		{"g SORT (REVERSE SIZE) UTF-8 NOT FROM amy", "* SORT 3 1"},
		{"h SORT (FROM) UTF-8 ALL", "* SORT 2 3 1"},
		{"i SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 1"},
		{"j UID SORT (ARRIVAL) UTF-8 2:*", "* SORT 2 3"},
		{"k SORT (SUBJECT) UTF-8 SUBJECT {4+}\r\nbeta", "* SORT 1 3"},
		{"l SORT (SUBJECT) UTF-8 OR 1 (FROM bob)", "* SORT 1 3"},
		{"m SORT (SUBJECT) KOI8-R ALL", "m NO [BADCHARSET (US-ASCII UTF-8)] Only US-ASCII and UTF-8 are supported"},
		{"n SORT (COLOUR) UTF-8 ALL", `n BAD SORT: unknown sort criterion "COLOUR"`},
		{"o SORT SUBJECT UTF-8 ALL", "o BAD SORT: sort criteria in parentheses expected, such as (REVERSE DATE)"},
		{"p SORT (SUBJECT) UTF-8 FOO", `p BAD SORT: unknown search key "FOO"`},
		{"q SORT (SUBJECT) UTF-8", "q BAD SORT: search key expected"},
		{"r SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL", `* ESEARCH (TAG "r") MIN 3 MAX 2 COUNT 3 ALL 3,1:2`},
		{"s UID SORT RETURN () (DATE) UTF-8 ALL", `* ESEARCH (TAG "s") UID ALL 2,1,3`},
		{"t SORT RETURN (MIN COUNT) (DATE) UTF-8 SUBJECT none", `* ESEARCH (TAG "t") COUNT 0`},
		{"u SORT RETURN (PARTIAL 1:2) (DATE) UTF-8 ALL", `* ESEARCH (TAG "u") PARTIAL (1:2 2,1)`},
		{"v SORT RETURN (FOO) (DATE) UTF-8 ALL", `v BAD SORT: unknown RETURN option "FOO"`},
	}
	for _, s := range steps {
		c.send(s.cmd + "\r\n")
		got := c.until(s.cmd[:2])
		if !hasPrefixLine(got, s.want) {
			t.Errorf("%s:\n%q\nwant a line starting %q", s.cmd, got, s.want)
		}
	}
}

func hasPrefixLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}
