package interop

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// pigeonholeCases are scripts and messages on which mailgate's Sieve
// interpreter must decide exactly what Dovecot's Pigeonhole decides.
var pigeonholeCases = []struct{ name, script, msg string }{
	{"implicit keep", `# nothing`, msgPlain},
	{"keep", `keep;`, msgPlain},
	{"discard", `discard;`, msgPlain},
	{"stop", `stop; discard;`, msgPlain},
	{"fileinto", `require "fileinto"; fileinto "Lists";`, msgPlain},
	{"fileinto copy", `require ["fileinto","copy"]; fileinto :copy "A"; fileinto "B";`, msgPlain},
	{"redirect", `redirect "x@example.org";`, msgPlain},
	{"redirect copy", `require "copy"; redirect :copy "x@example.org";`, msgPlain},
	{"flags", `require ["imap4flags","fileinto"]; addflag "\\Seen"; addflag ["$Work", "\\Flagged"]; removeflag "\\Seen"; fileinto "X"; keep;`, msgPlain},
	{"flags tag", `require ["imap4flags","fileinto"]; fileinto :flags "\\Answered a b" "Y";`, msgPlain},
	{"header contains", `if header :contains "subject" "REPORT" { discard; }`, msgPlain},
	{"header octet", `if header :comparator "i;octet" :contains "subject" "REPORT" { discard; }`, msgPlain},
	{"header matches", `require "fileinto"; if header :matches "subject" "*rep?rt*" { fileinto "m"; }`, msgPlain},
	{"address parts", `require "fileinto"; if address :localpart :is "from" "bob" { fileinto "local"; } if address :domain :is "to" "LOCALHOST" { fileinto "domain"; }`, msgPlain},
	{"address all list", `if address :all :is ["to","cc"] "carol@example.net" { discard; }`, msgPlain},
	{"envelope", `require ["envelope","fileinto"]; if envelope :domain :is "from" "remote.test" { fileinto "env"; }`, msgPlain},
	{"exists size", `require "fileinto"; if allof (exists ["From","Subject"], not exists "X-Nope", size :under 1K) { fileinto "small"; }`, msgPlain},
	{"anyof", `require "fileinto"; if anyof (false, header :is "x-prio" "1") { fileinto "p"; } elsif true { fileinto "q"; } else { keep; }`, msgPlain},
	{"rfc5228 example", rfc5228Example, msgPlain},
	{"variables", `require ["variables","fileinto"]; if header :matches "subject" "[*] *" { set :lower "l" "${1}"; fileinto "lists/${l}"; }`, msgList},
	{"subaddress", `require ["envelope","subaddress","fileinto"]; if envelope :detail "to" "ietf" { fileinto "ietf"; } if address :user "to" "alice" { fileinto "user"; }`, msgPlain},
	{"relational", `require ["relational","comparator-i;ascii-numeric","fileinto"]; if address :count "ge" :comparator "i;ascii-numeric" ["to","cc"] "2" { fileinto "many"; } if header :value "gt" :comparator "i;ascii-numeric" "x-prio" "3" { fileinto "high"; }`, msgPlain},
	{"body", `require ["body","fileinto"]; if body :contains "anvil" { fileinto "anvil"; } if body :raw :contains "QU5WSUw" { fileinto "raw"; }`, msgMIME},
	{"body content", `require ["body","fileinto"]; if body :content "text/html" :contains "anvil" { fileinto "html"; }`, msgMIME},
	{"reject", `require "reject"; if header :contains "subject" "report" { reject "no thanks"; }`, msgPlain},
	{"vacation", `require "vacation"; vacation :days 3 :subject "Away" "I am away.";`, msgPlain},
	{"mailbox create", `require ["fileinto","mailbox"]; fileinto :create "New";`, msgPlain},
}

const (
	msgPlain = "From: Bob <bob@remote.test>\r\nTo: alice@localhost\r\nCc: carol@example.net\r\nSubject: Weekly report\r\n" +
		"X-Prio: 12\r\nMessage-ID: <1@remote.test>\r\n\r\nThe anvil is coming.\r\n"
	msgList = "From: bob@remote.test\r\nTo: alice@localhost\r\nSubject: [Acme-Users] [fwd] version 1.0\r\n\r\nhi\r\n"
	msgMIME = "From: bob@remote.test\r\nTo: alice@localhost\r\nSubject: mime\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nVGhlIEFOVklMIGlzIGNvbWluZw==\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>an anvil</p>\r\n--XX--\r\n"
)

const rfc5228Example = `require ["fileinto"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org" { fileinto "filter"; }
elsif address :DOMAIN :is ["From", "To"] "example.com" { keep; }
elsif anyof (NOT address :all :contains ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) { fileinto "spam"; }
else { fileinto "personal"; }`

// TestSieveAgreesWithPigeonhole runs each case through `mailgate sieve
// test` and through Dovecot Pigeonhole's sieve-test, and compares the
// actions: folders with their flags, forwards, discard, reject, vacation.
func TestSieveAgreesWithPigeonhole(t *testing.T) {
	t.Parallel()
	sieveTest := testenv.Tool(t, "sieve-test")
	dir := worldReadableDir(t)
	conf := writeShared(t, dir, "dovecot.conf", "mail_location = maildir:"+filepath.Join(dir, "mail")+"\n")
	for _, c := range pigeonholeCases {
		script := writeShared(t, dir, "s.sieve", c.script)
		msg := writeShared(t, dir, "m.eml", c.msg)
		out, code := mgtest.Run(t, dir, "", "sieve", "test", script, msg, "--from", "bob@remote.test", "--to", "alice+ietf@localhost")
		if code != 0 {
			t.Errorf("%s: mailgate sieve test: exit %d\n%s", c.name, code, out)
			continue
		}
		ours := normalizeMailgate(out)
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		args := []string{sieveTest, "-c", conf, "-f", "bob@remote.test", "-a", "alice+ietf@localhost", script, msg}
		if os.Geteuid() == 0 {
			args = append([]string{"runuser", "-u", "nobody", "--"}, args...) // Dovecot refuses to run as root
		}
		b, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: sieve-test: %v\n%s", c.name, err, b)
			continue
		}
		theirs := normalizePigeonhole(string(b))
		t.Logf("%s: %q", c.name, theirs)
		if strings.Join(ours, "\n") != strings.Join(theirs, "\n") {
			t.Errorf("%s: mailgate decides\n  %q\nPigeonhole decides\n  %q\nPigeonhole said:\n%s", c.name, ours, theirs, b)
		}
	}
}

// worldReadableDir is a temporary directory the nobody user can read
// (sieve-test runs as nobody when the tests run as root).
func worldReadableDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sieve-pigeonhole")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeShared(t *testing.T, dir, name, text string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// normalizeMailgate turns `mailgate sieve test` lines into the common
// form: "store FOLDER [flags]", "redirect ADDR", "discard", "reject",
// "vacation", sorted.
func normalizeMailgate(out string) []string {
	var acts []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rest, flags, _ := strings.Cut(line, " flags ")
		switch {
		case strings.HasPrefix(rest, "keep"):
			acts = append(acts, store("INBOX", flags))
		case strings.HasPrefix(rest, "fileinto "):
			folder, _ := strconv.QuotedPrefix(strings.TrimPrefix(rest, "fileinto "))
			name, _ := strconv.Unquote(folder)
			acts = append(acts, store(name, flags))
		case strings.HasPrefix(rest, "redirect "):
			addr, _ := strconv.QuotedPrefix(strings.TrimPrefix(rest, "redirect "))
			a, _ := strconv.Unquote(addr)
			acts = append(acts, "redirect "+a)
		case strings.HasPrefix(rest, "reject") || strings.HasPrefix(rest, "ereject"):
			acts = append(acts, "reject")
		case strings.HasPrefix(rest, "vacation"):
			acts = append(acts, "vacation")
		case rest == "discard":
			acts = append(acts, "discard")
		}
	}
	sort.Strings(acts)
	return acts
}

// normalizePigeonhole reads sieve-test's "Performed actions" and
// "Implicit keep" sections into the same form.
func normalizePigeonhole(out string) []string {
	var acts []string
	for _, line := range strings.Split(out, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "* store message in folder: "):
			acts = append(acts, store(strings.TrimPrefix(l, "* store message in folder: "), ""))
		case strings.HasPrefix(l, "+ add IMAP flags: ") && len(acts) > 0:
			acts[len(acts)-1] = store(strings.TrimPrefix(acts[len(acts)-1], "store "), strings.TrimPrefix(l, "+ add IMAP flags: "))
		case strings.HasPrefix(l, "* redirect message to: "):
			acts = append(acts, "redirect "+strings.Trim(strings.TrimPrefix(l, "* redirect message to: "), "<>"))
		case strings.HasPrefix(l, "* reject message"):
			acts = append(acts, "reject")
		case strings.HasPrefix(l, "* send vacation message"):
			acts = append(acts, "vacation")
		case l == "* discard":
			acts = append(acts, "discard")
		}
	}
	sort.Strings(acts)
	return acts
}

// store is "store FOLDER" with the flags lower-cased and sorted.
func store(folder, flags string) string {
	f := strings.Fields(strings.ToLower(flags))
	sort.Strings(f)
	return strings.TrimSpace("store " + folder + " " + strings.Join(f, " "))
}
