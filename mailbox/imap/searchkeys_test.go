package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

// TestSearchKeys: the front's search-key parser gives the criteria
// imapserver's would (checked on the fields a key sets), and refuses
// what is not a search key with a reason.
func TestSearchKeys(t *testing.T) {
	t.Parallel()
	day := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		args string
		want string // fmt %+v of the criteria, or "error: ..."
	}{
		{"ALL", fmt.Sprintf("%+v", goimap.SearchCriteria{})},
		{"SEEN UNFLAGGED", fmt.Sprintf("%+v", goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagSeen}, NotFlag: []goimap.Flag{goimap.FlagFlagged}})},
		{"NEW", fmt.Sprintf("%+v", goimap.SearchCriteria{Flag: []goimap.Flag{`\Recent`}, NotFlag: []goimap.Flag{goimap.FlagSeen}})},
		{"OLD KEYWORD $x", fmt.Sprintf("%+v", goimap.SearchCriteria{Flag: []goimap.Flag{"$x"}, NotFlag: []goimap.Flag{`\Recent`}})},
		{`FROM "a b" HEADER X-Y z`, fmt.Sprintf("%+v", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "a b"}, {Key: "X-Y", Value: "z"}}})},
		{"ON 1-Feb-2024", fmt.Sprintf("%+v", goimap.SearchCriteria{Since: day, Before: day.AddDate(0, 0, 1)})},
		{"LARGER 10 SMALLER 20", fmt.Sprintf("%+v", goimap.SearchCriteria{Larger: 10, Smaller: 20})},
		{"NOT (SEEN DELETED)", fmt.Sprintf("%+v", goimap.SearchCriteria{Not: []goimap.SearchCriteria{{Flag: []goimap.Flag{goimap.FlagSeen, goimap.FlagDeleted}}}})},
		{"OR SEEN ANSWERED", fmt.Sprintf("%+v", goimap.SearchCriteria{Or: [][2]goimap.SearchCriteria{{{Flag: []goimap.Flag{goimap.FlagSeen}}, {Flag: []goimap.Flag{goimap.FlagAnswered}}}}})},
		{"1:3,5", fmt.Sprintf("%+v", goimap.SearchCriteria{SeqNum: []goimap.SeqSet{seqRanges([2]uint32{1, 3}, [2]uint32{5, 5})}})},
		{"UID 4:*", fmt.Sprintf("%+v", goimap.SearchCriteria{UID: []goimap.UIDSet{{goimap.UIDRange{Start: 4, Stop: 0}}}})},
		{"FOO", `error: unknown search key "FOO"`},
		{"SINCE yesterday", `error: SINCE needs a date such as 1-Feb-2024, not "yesterday"`},
		{"LARGER -1", `error: LARGER needs a number of octets, not "-1"`},
		{"(SEEN", "error: missing ')'"},
		{"SEEN)", "error: unexpected ')'"},
		{"SUBJECT", "error: SUBJECT needs an argument"},
		{"0:3", `error: unknown search key "0:3"`},
	}
	for _, tc := range cases {
		c := &command{tag: "a", name: "SORT", text: []string{"a SORT " + tc.args}}
		toks, err := c.tokens(1)
		if err != nil {
			t.Fatalf("%s: %v", tc.args, err)
		}
		got, err := (&keyParser{toks: toks}).all(false)
		s := fmt.Sprintf("%+v", got)
		if err != nil {
			s = "error: " + err.Error()
		}
		if s != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.args, s, tc.want)
		}
	}
}

func seqRanges(rs ...[2]uint32) goimap.SeqSet {
	var set goimap.SeqSet
	for _, r := range rs {
		set.AddRange(r[0], r[1])
	}
	return set
}

// TestTokens: quoted strings, literals and parentheses are tokens of
// their own; a quoted string is never a keyword.
func TestTokens(t *testing.T) {
	t.Parallel()
	c := &command{tag: "a", name: "UID", text: []string{`a UID SORT (DATE) "UTF-8" ("x \"y\"" `, ")"}, lits: []string{"lit\r\n"}}
	toks, err := c.tokens(2)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, tk := range toks {
		switch {
		case tk.paren != 0:
			parts = append(parts, string(tk.paren))
		case tk.str:
			parts = append(parts, "s:"+tk.text)
		default:
			parts = append(parts, tk.text)
		}
	}
	if got, want := strings.Join(parts, "|"), "(|DATE|)|s:UTF-8|(|s:x \"y\"|s:lit\r\n|)"; got != want {
		t.Errorf("tokens %q, want %q", got, want)
	}
}
