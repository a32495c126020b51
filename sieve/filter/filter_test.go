package filter

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/delivery"
	"mailgate/internal/mailmsg"
	"mailgate/sieve/scripts"
)

// fakeBoxes records what was stored where.
type fakeBoxes struct {
	mu      sync.Mutex
	stored  []string // "folder flags"
	folders map[string]bool
}

func (f *fakeBoxes) Deliver(_ context.Context, account, folder string, msg []byte, _ bool) error {
	return f.DeliverFlags(context.Background(), account, folder, msg, nil)
}

func (f *fakeBoxes) DeliverFlags(_ context.Context, account, folder string, msg []byte, flags []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if folder == "" || !f.folders[folder] {
		folder = "INBOX"
	}
	f.stored = append(f.stored, strings.TrimSpace(folder+" "+strings.Join(flags, " ")))
	return nil
}

func (f *fakeBoxes) FolderExists(account, folder string) bool {
	return f.folders[folder] || folder == "INBOX"
}
func (f *fakeBoxes) CreateFolder(account, folder string) error {
	f.folders[folder] = true
	return nil
}

type sent struct {
	from string
	to   []string
	msg  string
	sign bool
}

type fakeQueue struct{ sent []sent }

func (q *fakeQueue) Submit(_ context.Context, from string, to []string, msg []byte, sign bool) error {
	q.sent = append(q.sent, sent{from, to, string(msg), sign})
	return nil
}

func newFilter(t *testing.T, dir, script string) (*Filter, *fakeBoxes, *fakeQueue) {
	t.Helper()
	st, err := scripts.New(dir, scripts.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if script != "" {
		if err := st.Put("alice@example.com", "s", []byte(script)); err != nil {
			t.Fatal(err)
		}
		if err := st.SetActive("alice@example.com", "s"); err != nil {
			t.Fatal(err)
		}
	}
	boxes := &fakeBoxes{folders: map[string]bool{}}
	q := &fakeQueue{}
	return &Filter{Scripts: st, Mailboxes: boxes, Queue: q, Hostname: "mx.example.com", Metrics: NewMetrics(nil)}, boxes, q
}

func deliver(t *testing.T, f *Filter, from, msg string) error {
	t.Helper()
	return f.Deliver(context.Background(), &delivery.LocalMessage{QueueID: "q1", From: from, Rcpt: "alice+x@example.com",
		Account: "alice@example.com", Body: []byte(strings.ReplaceAll(msg, "\n", "\r\n"))})
}

func TestFilterActions(t *testing.T) {
	f, boxes, q := newFilter(t, t.TempDir(), `require ["fileinto","imap4flags","mailbox","copy"];
if header :contains "subject" "a" { addflag "\\Flagged"; fileinto :create "Lists/A"; }
if header :contains "subject" "b" { redirect :copy "bob@example.net"; }
if header :contains "subject" "c" { discard; }`)
	for _, subj := range []string{"a", "b", "c", "none"} {
		if err := deliver(t, f, "x@example.org", "Subject: "+subj+"\nTo: alice@example.com\n\nhi\n"); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`Lists/A \Flagged`, "INBOX", "INBOX"}
	if strings.Join(boxes.stored, ",") != strings.Join(want, ",") {
		t.Errorf("stored %q, want %q", boxes.stored, want)
	}
	if len(q.sent) != 1 || q.sent[0].to[0] != "bob@example.net" || q.sent[0].from != "alice+x@example.com" || q.sent[0].sign ||
		!strings.HasPrefix(q.sent[0].msg, loopHeader+": alice+x@example.com\r\n") {
		t.Errorf("forward: %+v", q.sent)
	}
}

// TestFilterRedirectLoop: a message this account forwarded before is
// kept instead of forwarded again.
func TestFilterRedirectLoop(t *testing.T) {
	f, boxes, q := newFilter(t, t.TempDir(), `redirect "bob@example.net";`)
	err := deliver(t, f, "x@example.org", loopHeader+": alice+x@example.com\nSubject: x\n\nhi\n")
	if err != nil || len(q.sent) != 0 || len(boxes.stored) != 1 {
		t.Errorf("err %v, sent %v, stored %v: want kept, not forwarded", err, q.sent, boxes.stored)
	}
}

// TestFilterFailureKeeps: a script failing at run time delivers to
// INBOX; reject becomes a permanent delivery error with the reason.
func TestFilterFailureKeeps(t *testing.T) {
	f, boxes, _ := newFilter(t, t.TempDir(), `require ["variables"]; set "a" "x"; redirect "${a}";`)
	if err := deliver(t, f, "x@example.org", "Subject: x\n\nhi\n"); err != nil || len(boxes.stored) != 1 {
		t.Errorf("err %v stored %v", err, boxes.stored)
	}
	f, _, _ = newFilter(t, t.TempDir(), `require "reject"; reject "I do not want this.";`)
	err := deliver(t, f, "x@example.org", "Subject: x\n\nhi\n")
	var de *mailmsg.Error
	if !errors.As(err, &de) || !de.Permanent || de.Enhanced != "5.7.1" || !strings.Contains(de.Reason, "I do not want this.") {
		t.Errorf("reject: %#v", err)
	}
}

// TestVacationRules: RFC 5230 section 4.5 and 4.6, and the once-per-
// period record surviving a new Filter on the same directory.
func TestVacationRules(t *testing.T) {
	dir := t.TempDir()
	script := `require "vacation"; vacation :days 2 :addresses "al@example.com" "Away.";`
	f, _, q := newFilter(t, dir, script)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f.Now = func() time.Time { return now }
	cases := []struct {
		name, from, msg string
		replies         int
	}{
		{"null sender", "", "To: alice@example.com\n\n", 0},
		{"list", "x@example.org", "To: alice@example.com\nList-Id: <l.example.org>\n\n", 0},
		{"bulk", "x@example.org", "To: alice@example.com\nPrecedence: bulk\n\n", 0},
		{"auto", "x@example.org", "To: alice@example.com\nAuto-Submitted: auto-generated\n\n", 0},
		{"daemon", "MAILER-DAEMON@example.org", "To: alice@example.com\n\n", 0},
		{"not addressed", "x@example.org", "To: someone@example.com\n\n", 0},
		{"answered", "x@example.org", "To: Alice <alice@example.com>\nSubject: hi\nMessage-ID: <1@x>\n\n", 1},
		{"alias in :addresses", "y@example.org", "Cc: al@example.com\nAuto-Submitted: no\n\n", 2},
		{"same sender again", "X@example.org", "To: alice@example.com\n\n", 2},
	}
	for _, c := range cases {
		if err := deliver(t, f, c.from, c.msg); err != nil {
			t.Fatal(err)
		}
		if len(q.sent) != c.replies {
			t.Fatalf("%s: %d replies, want %d", c.name, len(q.sent), c.replies)
		}
	}
	r := q.sent[0]
	if r.from != "" || r.to[0] != "x@example.org" || !r.sign {
		t.Errorf("reply envelope %+v", r)
	}
	for _, want := range []string{"From: alice+x@example.com\r\n", "Subject: Auto: hi\r\n", "Auto-Submitted: auto-replied\r\n",
		"In-Reply-To: <1@x>\r\n", "\r\n\r\nAway.\r\n"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("reply lacks %q:\n%s", want, r.msg)
		}
	}
	// A restart (a new Filter on the same directory) remembers; after
	// the period, the sender is answered again.
	f2, _, q2 := newFilter(t, dir, "")
	f2.Now = func() time.Time { return now.Add(47 * time.Hour) }
	deliver(t, f2, "x@example.org", "To: alice@example.com\n\n")
	f2.Now = func() time.Time { return now.Add(49 * time.Hour) }
	deliver(t, f2, "x@example.org", "To: alice@example.com\n\n")
	if len(q2.sent) != 1 {
		t.Errorf("after restart: %d replies, want 1 (after the period only)", len(q2.sent))
	}
}
