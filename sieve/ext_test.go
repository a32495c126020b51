package sieve

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRFC5229Variables runs the examples of RFC 5229 sections 3 and 4.
func TestRFC5229Variables(t *testing.T) {
	matching := `require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
# Imagine the header
# Subject: [acme-users] [fwd] version 1.0 is out
if header :matches "Subject" "[*] *" {
    # ${1} will hold "acme-users",
    # ${2} will hold "[fwd] version 1.0 is out"
    fileinto "INBOX.lists.${1}"; stop;
}
# Imagine the header
# To: coyote@ACME.Example.COM
if address :matches ["To", "Cc"] ["coyote@**.com",
        "wile@**.com"] {
    # ${0} is the matching address
    # ${1} is always the empty string
    # ${2} is part of the domain name ("ACME.Example")
    fileinto "INBOX.business.${2}"; stop;
} else {
    # Control wouldn't reach this block if any match was
    # successful, so no match variables are set at this
    # point.
}
if anyof (true, address :domain :matches "To" "*.com") {
    # The second test is never evaluated, so there are
    # still no match variables set.
    stop;
}`
	modifiers := `require ["variables", "fileinto"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "vacation" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
set "a" "juMBlEd lETteRS";
set :length "b" "${a}";
set :lower "c" "${a}";
set :upperfirst "d" "${a}";
set :upperfirst :lower "e" "${a}";
set :quotewildcard "f" "Rock*";
fileinto "${b}|${c}|${d}|${e}|${f}";
if string :matches "${vacation}" "Dear Mr Coyote,??I'm out, please leave a message after the meep.??" { fileinto "vacation text ok"; }
if string :is "${unknown}${9}" "" { fileinto "unset is empty"; }
fileinto "literal ${ not a var } and ${0a}";`
	checkCases(t, []runCase{
		{"list-id", matching, "List-ID: Sieve <sieve@lists.example.org>\n\n", Envelope{}, []string{`fileinto "INBOX.lists.sieve"`}},
		{"subject", matching, "Subject: [acme-users] [fwd] version 1.0 is out\n\n", Envelope{}, []string{`fileinto "INBOX.lists.acme-users"`}},
		{"address", matching, "To: coyote@ACME.Example.COM\n\n", Envelope{}, []string{`fileinto "INBOX.business.ACME.Example"`}},
		{"none", matching, "To: someone@example.org\n\n", Envelope{}, []string{"keep (implicit)"}},
		{"modifiers", modifiers, "\n", Envelope{}, []string{
			`fileinto "15|jumbled letters|JuMBlEd lETteRS|Jumbled letters|Rock\\*"`,
			`fileinto "vacation text ok"`, `fileinto "unset is empty"`,
			`fileinto "literal ${ not a var } and ${0a}"`}},
	})
}

// TestRFC5232Flags runs the imap4flags examples (RFC 5232 section 7).
func TestRFC5232Flags(t *testing.T) {
	script := `require ["imap4flags", "fileinto", "variables"];
if header :contains "from" "boss@frobnitzm.example.edu" {
    setflag "flagvar" "\\Flagged";
    fileinto :flags "${flagvar}" "INBOX.From Boss";
}
if header :contains "Disposition-Notification-To" "mel@example.com" {
    addflag "$MDNRequired";
}
if header :contains "from" "imap@cac.washington.example.edu" {
    removeflag "$MDNRequired";
    addflag "\\Seen \\Answered";
    fileinto "INBOX.imap-list";
}
if hasflag :contains "MDN" { addflag "seen-mdn"; }`
	checkCases(t, []runCase{
		{"boss", script, "From: boss@frobnitzm.example.edu\n\n", Envelope{}, []string{`fileinto "INBOX.From Boss" flags \Flagged`}},
		{"mdn", script, "Disposition-Notification-To: mel@example.com\n\n", Envelope{}, []string{`keep (implicit) flags $MDNRequired seen-mdn`}},
		{"list", script, "Disposition-Notification-To: mel@example.com\nFrom: imap@cac.washington.example.edu\n\n",
			Envelope{}, []string{`fileinto "INBOX.imap-list" flags \Seen \Answered`}},
		{"keep flags", `require "imap4flags"; keep :flags ["\\Seen", "\\Seen \\Flagged"];`, "\n", Envelope{}, []string{`keep flags \Seen \Flagged`}},
	})
}

// TestRFC5233Subaddress runs the examples of RFC 5233 section 6.
func TestRFC5233Subaddress(t *testing.T) {
	script := `require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "ken" { fileinto "mailbox1"; }
if envelope :detail "to" "mta-filters" { fileinto "mailbox2"; }
if address :detail :is "to" "" { fileinto "empty-detail"; }`
	checkCases(t, []runCase{
		{"user", script, "To: ken@example.com\n\n", Envelope{To: "ken@example.com"}, []string{`fileinto "mailbox1"`}},
		{"detail", script, "To: x@example.com\n\n", Envelope{To: "ken+mta-filters@example.com"}, []string{`fileinto "mailbox1"`, `fileinto "mailbox2"`}},
		{"empty detail", script, "To: ken+@example.com\n\n", Envelope{To: "joe@example.com"}, []string{`fileinto "empty-detail"`}},
	})
}

// TestRFC5230Vacation runs the examples of RFC 5230 section 4.
func TestRFC5230Vacation(t *testing.T) {
	simple := `require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at 555-1212";
}`
	full := `require "vacation";
vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
   :subject "Out of office" :handle "ho" "I'm away until October 19.";`
	checkCases(t, []runCase{
		{"cyrus", simple, "Subject: cyrus bug\n\n", Envelope{}, []string{`vacation once per 168h0m0s per sender: "I'm out -- send mail to cyrus-bugs"`, "keep (implicit)"}},
		{"full", full, "Subject: x\n\n", Envelope{}, []string{`vacation once per 552h0m0s per sender, subject "Out of office": "I'm away until October 19."`, "keep (implicit)"}},
	})
	s, err := Parse([]byte(full), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := s.Run(context.Background(), NewMessage([]byte("\r\n")), RunOptions{})
	v := res.Actions[0].Vacation
	if v.Reason != "I'm away until October 19." || len(v.Addresses) != 2 || v.MIME {
		t.Errorf("vacation = %+v", v)
	}
}

// TestRelationalBodyReject covers RFC 5231, 5173 and 5429.
func TestRelationalBodyReject(t *testing.T) {
	multipart := "Content-Type: multipart/alternative; boundary=XX\nTo: a@x.org, b@x.org, c@x.org\nX-Priority: 12\n\n" +
		"--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nVGhlIEFOVklMIGlzIGNvbWluZw==\n" +
		"--XX\nContent-Type: text/html\n\n<p>hello html</p>\n--XX--\n"
	checkCases(t, []runCase{
		{"count", `require ["relational","comparator-i;ascii-numeric"];
if address :count "ge" :comparator "i;ascii-numeric" ["to","cc"] "3" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"value numeric", `require ["relational","comparator-i;ascii-numeric"];
if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "9" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"value text", `require "relational"; if header :value "lt" "x-priority" "2" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"body text decoded", `require "body"; if body :contains "anvil" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"body html not text", `require "body"; if body :text :contains "hello html" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"body content", `require "body"; if body :content "text/plain" :contains "hello html" { discard; }`, multipart, Envelope{}, []string{"keep (implicit)"}},
		{"body raw", `require "body"; if body :raw :contains "VGhlIEFOVklM" { discard; }`, multipart, Envelope{}, []string{"discard"}},
		{"reject", `require "reject"; reject "go away";`, multipart, Envelope{}, []string{`reject "go away"`}},
		{"ereject", `require "ereject"; ereject "no";`, multipart, Envelope{}, []string{`ereject "no"`}},
	})
}

// TestRuntimeErrors: limits and incompatible actions fail the run, so
// the caller keeps the message.
func TestRuntimeErrors(t *testing.T) {
	cases := map[string]string{
		"reject with keep":   `require "reject"; keep; reject "no";`,
		"too many redirects": `redirect "a@x.org"; redirect "b@x.org"; redirect "c@x.org"; redirect "d@x.org"; redirect "e@x.org";`,
		"bad address":        `require "variables"; set "a" "not an address"; redirect "${a}";`,
		"steps": `require "variables"; set "x" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";` +
			strings.Repeat(`if string :contains ["${x}","${x}","${x}","${x}"] ["b","c","d","e","f","g","h","i"] { keep; }`, 400),
		"two vacations": `require "vacation"; vacation "a"; vacation "b";`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Parse([]byte(src), 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Run(context.Background(), NewMessage([]byte("\r\n")), RunOptions{Limits: Limits{MaxSteps: 10000}})
			var re *RuntimeError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RuntimeError", err)
			}
		})
	}
}

// TestParseErrors: a broken script is refused with its line and column.
func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"if true {\n  keep;\n", "line 3, column 1: expected } to close the block of if at 1:1"},
		{`fileinto "x";`, `line 1, column 1: fileinto needs require "fileinto"`},
		{"require \"fileinto\";\nkeep;\nrequire \"body\";", "line 3, column 1: require must come before"},
		{`require "nope";`, `line 1, column 9: extension "nope" is not supported`},
		{"keep", "line 1, column 5: expected ; or { after keep"},
		{`if header :is "a" { keep; }`, "line 1, column 4: header takes 2 argument(s)"},
		{`if size 10 { keep; }`, "line 1, column 4: size needs one of its tags (:over :under)"},
		{`if header :is :contains "a" "b" { keep; }`, "line 1, column 15: :is and :contains cannot be used together"},
		{`redirect "not-an-address";`, `line 1, column 10: "not-an-address" is not a mail address`},
		{"keep;\n\n  \"oops\";", "line 3, column 3: unexpected a string"},
		{`if header :comparator "i;foo" "a" "b" { keep; }`, `line 1, column 23: comparator "i;foo" is not supported`},
		{`/* never closed`, "line 1, column 1: this comment is never closed"},
		{`else { keep; }`, "line 1, column 1: else must follow an if"},
		{`if true { keep; } discard; else { keep; }`, "line 1, column 28: else must follow an if"},
		{`header "a" "b";`, "line 1, column 1: header is a test"},
		{`if keep { }`, "line 1, column 4: keep is a command, not a test"},
		{strings.Repeat("if true {", 40), "nested more than 32 deep"},
		{`keep :flags "x";`, `line 1, column 6: :flags needs require "imap4flags"`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src), 0)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want %q", c.src, err, c.want)
		}
		var se *Error
		if err != nil && !errors.As(err, &se) {
			t.Errorf("Parse(%q): error is %T, want *Error", c.src, err)
		}
	}
	if _, err := Parse(make([]byte, 100), 50); err == nil || !strings.Contains(err.Error(), "limit is 50") {
		t.Errorf("size limit: %v", err)
	}
}

// TestGlob checks the shortest-leftmost wildcard rule and escapes.
func TestGlob(t *testing.T) {
	cases := []struct {
		pat, s string
		ok     bool
		caps   []string
	}{
		{"*", "", true, []string{""}},
		{"a*b", "aXXb", true, []string{"XX"}},
		{"*a*", "banana", true, []string{"b", "nana"}},
		{"?*", "", false, nil},
		{"?*?", "abc", true, []string{"a", "b", "c"}},
		{`\*x`, "*x", true, nil},
		{`\*x`, "ax", false, nil},
		{"A*Z", "abcz", true, []string{"bc"}},
		{"*@*.com", "a@b@c.com", true, []string{"a", "b@c"}},
	}
	for _, c := range cases {
		ok, caps := glob(cmpCasemap, c.pat, c.s)
		if ok != c.ok || ok && strings.Join(caps, "|") != strings.Join(c.caps, "|") {
			t.Errorf("glob(%q, %q) = %v %q, want %v %q", c.pat, c.s, ok, caps, c.ok, c.caps)
		}
	}
}

// TestLargeComparisonBounded: a :matches of a long pattern against a
// large body is refused instead of taking unbounded time.
func TestLargeComparisonBounded(t *testing.T) {
	s, err := Parse([]byte(`require "body"; if body :raw :matches "*`+strings.Repeat("a?", 200)+`*" { discard; }`), 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := NewMessage([]byte("Subject: x\r\n\r\n" + strings.Repeat("ab", 1<<19)))
	_, err = s.Run(context.Background(), msg, RunOptions{})
	var re *RuntimeError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "too long") {
		t.Errorf("err = %v, want a RuntimeError", err)
	}
}
