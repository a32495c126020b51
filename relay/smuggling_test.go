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
	// In clear, after STARTTLS and on implicit TLS: the same reader and
	// the same check serve all three.
	for _, listener := range []string{"mx", "submission", "submissions"} {
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

// TestSmugglingRefusesOnlyItsMessage: the check sees the bytes of each
// message on its own, so a message with "\r\n.\r" is refused and the next
// clean one on the same connection (over STARTTLS) is accepted.
func TestSmugglingRefusesOnlyItsMessage(t *testing.T) {
	t.Parallel()
	ts := startServer(t, nil)
	w := ts.session("submission", true, true)
	w.must("MAIL FROM:<alice@example.com>", "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	w.write(message("smuggle") + "first\r\n.\rMAIL FROM:<admin@example.com>\r\n.\r\n")
	if got := w.reply(); got != bareLine {
		t.Fatalf("smuggling message: %q, want %q", got, bareLine)
	}
	w.must("MAIL FROM:<alice@example.com>", "250")
	w.must(rcptBob, "250")
	w.must("DATA", "354")
	queuedID(t, w.cmd(message("clean")+"."))
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
