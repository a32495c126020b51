package relay_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"mailgate/config"
)

// eodSequence is one fake end-of-data sequence from
// testdata/smtp-smuggling/eod-sequences.tsv (see SOURCE.txt there).
type eodSequence struct {
	name string
	seq  string
}

func loadEODSequences(t *testing.T) []eodSequence {
	t.Helper()
	f, err := os.Open("testdata/smtp-smuggling/eod-sequences.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eodSequence
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) < 3 {
			t.Fatalf("bad line %q", line)
		}
		b, err := hex.DecodeString(cols[2])
		if err != nil {
			t.Fatalf("%s: %v", cols[0], err)
		}
		out = append(out, eodSequence{cols[0], string(b)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 12 {
		t.Fatalf("only %d sequences in the file", len(out))
	}
	return out
}

// TestSmuggling sends every fake end-of-data sequence inside DATA, then a
// smuggled second transaction, then the real end. The client must get
// exactly one reply, a rejection (or a closed connection); the smuggled
// MAIL/RCPT/DATA must never run; nothing is stored.
func TestSmuggling(t *testing.T) {
	t.Parallel()
	for _, listener := range []string{"mx", "submission"} {
		for _, s := range loadEODSequences(t) {
			t.Run(listener+"/"+s.name, func(t *testing.T) {
				t.Parallel()
				ts := startServer(t, nil)
				w := ts.session(listener, listener != "mx", listener != "mx")
				w.must("MAIL FROM:<alice@example.com>", "250")
				w.must(rcptBob, "250")
				w.must("DATA", "354")
				w.write("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: smuggling " + s.name + "\r\n\r\nfirst message" +
					s.seq +
					"MAIL FROM:<admin@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n" +
					"From: admin@example.com\r\nSubject: smuggled\r\n\r\nsmuggled message\r\n" +
					".\r\n")
				got := w.reply()
				if goSMTPDropsDotCR[s.name] {
					checkDotCRDropped(t, ts, got)
					return
				}
				if got != closed && (got[0] != '5' || strings.Contains(got, "\n")) {
					t.Fatalf("reply to the whole DATA: %q, want one 5xx line", got)
				}
				if got != closed {
					// Nothing else was answered: the next reply is NOOP's.
					if next := w.cmd("NOOP"); next != "250 2.0.0 I have successfully done nothing" {
						t.Errorf("after the rejection the server said %q: a smuggled command ran", next)
					}
				}
				if files := ts.spoolFiles(); len(files) != 0 {
					t.Errorf("spool holds %v", files)
				}
				if n := strings.Count(ts.logs.String(), `msg=accepted`); n != 0 {
					t.Errorf("%d messages accepted", n)
				}
			})
		}
	}
}

// goSMTPDropsDotCR names the sequences that go-smtp's DATA reader (v0.25.1,
// data.go) normalises before mailgate sees them: at the start of a line it
// swallows "." then "\r" when no "\n" follows, so "\r\n.\rMAIL" reaches
// the session as "\r\nMAIL", with no bare CR left to detect. The relay
// cannot reject these without replacing go-smtp's reader (a known gap,
// reported on issue 2); what must still hold is checked instead: one 250
// for one message, the would-be commands stored as plain body lines, no
// bare line ending stored, no second transaction.
var goSMTPDropsDotCR = map[string]bool{"crlfcr": true, "crlf_cr_crlf": true}

func checkDotCRDropped(t *testing.T, ts *testServer, got string) {
	t.Helper()
	id := queuedID(t, got)
	_, raw := ts.spooled(id)
	if !strings.Contains(string(raw), "\r\nMAIL FROM:<admin@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n") {
		t.Errorf("smuggled commands not stored as body lines:\n%q", raw)
	}
	if strings.Count(string(raw), "\n") != strings.Count(string(raw), "\r\n") || strings.Count(string(raw), "\r") != strings.Count(string(raw), "\r\n") {
		t.Errorf("bare line ending stored:\n%q", raw)
	}
	if files := ts.spoolFiles(); len(files) != 1 {
		t.Errorf("spool holds %v, want exactly the one message", files)
	}
}

// TestSmugglingInBDAT: in BDAT nothing ends the data but the byte count,
// yet a bare line ending inside a chunk is still refused, so no smuggling
// sequence reaches the spool by this route either.
func TestSmugglingInBDAT(t *testing.T) {
	t.Parallel()
	// Every sequence on one connection: more rejections than max_errors.
	ts := startServer(t, func(c *config.Config) { c.Limits.MaxErrors = 100 })
	w := ts.session("mx", false, false)
	for _, s := range loadEODSequences(t) {
		w.must(mailFrom, "250")
		w.must(rcptBob, "250")
		body := "Subject: bdat " + s.name + "\r\n\r\nfirst" + s.seq + "MAIL FROM:<admin@example.com>\r\n"
		w.write("BDAT " + itoa(len(body)) + " LAST\r\n" + body)
		if got := w.reply(); got != bareLine && got != nulByte {
			t.Errorf("%s: got %q", s.name, got)
		}
	}
	if next := w.cmd("NOOP"); next != "250 2.0.0 I have successfully done nothing" {
		t.Errorf("then %q", next)
	}
	if files := ts.spoolFiles(); len(files) != 0 {
		t.Errorf("spool holds %v", files)
	}
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}
