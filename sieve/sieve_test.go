package sieve

import (
	"context"
	"os"
	"strings"
	"testing"
)

// run parses script and runs it on msg, returning the actions as text.
func run(t *testing.T, script, msg string, env Envelope) []string {
	t.Helper()
	s, err := Parse([]byte(script), 0)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, script)
	}
	res, err := s.Run(context.Background(), NewMessage([]byte(strings.ReplaceAll(msg, "\n", "\r\n"))),
		RunOptions{Envelope: env, MailboxExists: func(n string) bool { return n == "INBOX" || n == "lists" }})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var out []string
	for _, a := range res.Actions {
		out = append(out, a.String())
	}
	return out
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type runCase struct {
	name   string
	script string
	msg    string
	env    Envelope
	want   []string
}

func checkCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := run(t, c.script, c.msg, c.env)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("actions:\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestRFC5228Example runs the example of RFC 5228 section 9 on a message
// for each of its branches.
func TestRFC5228Example(t *testing.T) {
	script := readFile(t, "testdata/rfc5228-example.sieve")
	checkCases(t, []runCase{
		{"list", script, "Sender: owner-ietf-mta-filters@imc.org\nTo: me@example.com\n\nhi\n", Envelope{}, []string{`fileinto "filter"`}},
		{"company", script, "From: boss@EXAMPLE.com\nTo: x@elsewhere.org\n\nhi\n", Envelope{}, []string{`keep`}},
		{"not to me", script, "From: a@b.org\nTo: you@other.org\n\nhi\n", Envelope{}, []string{`fileinto "spam"`}},
		{"spam subject", script, "From: a@b.org\nTo: list@other.org\nCc: me@example.com\nSubject: Make lots of MONEY fast!\n\nhi\n", Envelope{}, []string{`fileinto "spam"`}},
		{"personal", script, "From: a@b.org\nCc: Me <me@example.com>\nSubject: lunch\n\nhi\n", Envelope{}, []string{`fileinto "personal"`}},
	})
}

// TestRFC5228Core covers the core tests and actions one by one.
func TestRFC5228Core(t *testing.T) {
	msg := "From: \"Wile E. Coyote\" <coyote@desert.example.org>\nTo: roadrunner@acme.example.com\n" +
		"Subject: I have a present for you\nX-Caffeine: C8H10N4O2\n\nLook, I'm sorry about the whole anvil thing.\n"
	env := Envelope{From: "coyote@desert.example.org", To: "roadrunner@acme.example.com"}
	checkCases(t, []runCase{
		{"implicit keep", `# nothing`, msg, env, []string{"keep (implicit)"}},
		{"discard", `discard;`, msg, env, []string{"discard"}},
		{"stop keeps", `stop; discard;`, msg, env, []string{"keep (implicit)"}},
		{"exists", `if exists ["From","X-Caffeine"] { discard; }`, msg, env, []string{"discard"}},
		{"exists missing", `if exists ["From","X-Nope"] { discard; }`, msg, env, []string{"keep (implicit)"}},
		{"size over", `if size :over 100 { discard; }`, msg, env, []string{"discard"}},
		{"size under 1K", `if size :under 1K { discard; }`, msg, env, []string{"discard"}},
		{"header contains", `if header :contains "subject" "PRESENT" { discard; }`, msg, env, []string{"discard"}},
		{"octet is case-sensitive", `if header :comparator "i;octet" :contains "subject" "PRESENT" { discard; }`, msg, env, []string{"keep (implicit)"}},
		{"address localpart", `if address :localpart :is "from" "coyote" { discard; }`, msg, env, []string{"discard"}},
		{"address domain", `if address :domain :matches "To" "*.example.com" { discard; }`, msg, env, []string{"discard"}},
		{"envelope", `require "envelope"; if envelope :all :is "from" "coyote@desert.example.org" { discard; }`, msg, env, []string{"discard"}},
		{"envelope to domain", `require "envelope"; if envelope :domain :is "to" "ACME.example.com" { discard; }`, msg, env, []string{"discard"}},
		{"allof", `if allof (true, header :is "x-caffeine" "C8H10N4O2") { discard; }`, msg, env, []string{"discard"}},
		{"allof false", `if allof (true, false) { discard; }`, msg, env, []string{"keep (implicit)"}},
		{"anyof not", `if anyof (false, not false) { discard; }`, msg, env, []string{"discard"}},
		{"elsif else", `if false { discard; } elsif false { discard; } else { keep; }`, msg, env, []string{"keep"}},
		{"redirect", `redirect "helper@example.net";`, msg, env, []string{`redirect "helper@example.net"`}},
		{"redirect copy", `require "copy"; redirect :copy "helper@example.net";`, msg, env, []string{`redirect "helper@example.net" :copy`, "keep (implicit)"}},
		{"fileinto copy", `require ["fileinto","copy"]; fileinto :copy "Archive";`, msg, env, []string{`fileinto "Archive" :copy`, "keep (implicit)"}},
		{"fileinto create", `require ["fileinto","mailbox"]; fileinto :create "New/Sub";`, msg, env, []string{`fileinto "New/Sub" :create`}},
		{"keep and fileinto INBOX once", `require "fileinto"; keep; fileinto "INBOX";`, msg, env, []string{"keep"}},
		{"fileinto twice once", `require "fileinto"; fileinto "a"; fileinto "a";`, msg, env, []string{`fileinto "a"`}},
		{"mailboxexists", `require ["mailbox","fileinto"]; if mailboxexists "lists" { fileinto "lists"; } if mailboxexists "nope" { discard; }`, msg, env, []string{`fileinto "lists"`}},
		{"multiline text", "require \"reject\";\nreject text:\nno thanks\n..dot\n.\n;", msg, env, []string{`reject "no thanks\r\n.dot\r\n"`}},
	})
}
