package imap

import (
	"context"
	"errors"
	"strings"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/prometheus/client_golang/prometheus"
)

// message returns a CRLF message of exactly size bytes.
func message(subject string, size int) []byte {
	head := "Subject: " + subject + "\r\n\r\n"
	return []byte(head + strings.Repeat("x", size-len(head)-2) + "\r\n")
}

// deliverKnown puts 1024 + 2048 + 100 bytes into alice's account (two
// folders), 3172 bytes: 4 KiB rounded up.
func deliverKnown(t *testing.T, env *testEnv) {
	t.Helper()
	ctx := context.Background()
	for _, m := range []struct {
		folder string
		size   int
	}{{"", 1024}, {"", 2048}, {"Archive", 100}} {
		if err := env.store.Deliver(ctx, alice, m.folder, message("known", m.size), false); err != nil {
			t.Fatal(err)
		}
	}
	if used, _, err := env.store.Usage(alice); err != nil || used != 3172 {
		t.Fatalf("store usage %d, %v; want 3172", used, err)
	}
}

func wantCode(t *testing.T, what string, err error, code goimap.ResponseCode) {
	t.Helper()
	var ie *goimap.Error
	if !errors.As(err, &ie) || ie.Code != code {
		t.Errorf("%s: %v, want NO [%s]", what, err, code)
	}
}

// TestQuotaWithImapclient: go-imap's client reads the quota root and the
// usage of an account with a limit of 2,000,000 bytes (1953 KiB).
func TestQuotaWithImapclient(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 2000000)
	deliverKnown(t, env)
	c := env.login(t, nil)
	if !c.Caps().Has(goimap.CapQuota) {
		t.Errorf("capabilities after login lack QUOTA: %v", c.Caps())
	}
	want := imapclient.QuotaResourceData{Usage: 4, Limit: 1953}
	data, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(data) != 1 || data[0].Root != "" || data[0].Resources["STORAGE"] != want {
		t.Errorf("GETQUOTAROOT INBOX: %+v, %v; want root \"\" with STORAGE %+v", data, err, want)
	}
	q, err := c.GetQuota("").Wait()
	if err != nil || q.Root != "" || q.Resources["STORAGE"] != want || len(q.Resources) != 1 {
		t.Errorf("GETQUOTA \"\": %+v, %v; want STORAGE %+v", q, err, want)
	}
	_, err = c.GetQuota("other").Wait()
	wantCode(t, "GETQUOTA other", err, goimap.ResponseCodeNonExistent)
	_, err = c.GetQuotaRoot("Nowhere").Wait()
	wantCode(t, "GETQUOTAROOT of a missing folder", err, goimap.ResponseCodeNonExistent)
	err = c.SetQuota("", map[goimap.QuotaResourceType]int64{"STORAGE": 1 << 20}).Wait()
	wantCode(t, "SETQUOTA", err, goimap.ResponseCodeNoPerm)

	// A folder named in modified UTF-7 on the wire ("Ärger").
	if err := c.Create("Ärger", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err = c.GetQuotaRoot("Ärger").Wait()
	if err != nil || len(data) != 1 || data[0].Resources["STORAGE"] != want {
		t.Errorf("GETQUOTAROOT Ärger: %+v, %v", data, err)
	}
}

// TestQuotaUnlimited: an account without a limit has no quota root.
func TestQuotaUnlimited(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	deliverKnown(t, env)
	c := env.login(t, nil)
	data, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil || len(data) != 0 {
		t.Errorf("GETQUOTAROOT INBOX without a limit: %+v, %v; want no roots", data, err)
	}
	_, err = c.GetQuota("").Wait()
	wantCode(t, "GETQUOTA \"\" without a limit", err, goimap.ResponseCodeNonExistent)

	r := dialRaw(t, env.tlsAddr, true)
	r.line()
	// Pipelined right after LOGIN: answered once the login is done.
	r.send("a LOGIN alice secret\r\nb GETQUOTAROOT INBOX\r\n")
	want := "a OK [CAPABILITY " + loggedCaps + "] Logged in\n* QUOTAROOT INBOX\nb OK GETQUOTAROOT completed"
	if got := strings.Join(r.until("b "), "\n"); got != want {
		t.Errorf("LOGIN and GETQUOTAROOT in one packet:\n%s\nwant:\n%s", got, want)
	}
}

// TestQuotaRawReplies checks exact lines: argument forms (atom, quoted,
// literal, modified UTF-7, UTF-8), refusals, and pipelined commands
// answered in order around the ones imapserver runs.
func TestQuotaRawReplies(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	env := startServer(t, func(o *Options) { o.Registerer = reg })
	env.store.SetQuota(alice, 2000000)
	deliverKnown(t, env)
	if err := env.store.CreateFolder(alice, "Ärger"); err != nil {
		t.Fatal(err)
	}
	const usage = `* QUOTA "" (STORAGE 4 1953)`
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	steps := []struct {
		cmd  string
		want []string
	}{
		{"b GETQUOTAROOT inbox", []string{`* QUOTAROOT INBOX ""`, usage, "b OK GETQUOTAROOT completed"}},
		{`c GETQUOTAROOT "Archive"`, []string{`* QUOTAROOT "Archive" ""`, usage, "c OK GETQUOTAROOT completed"}},
		{"d GETQUOTAROOT &AMQ-rger", []string{`* QUOTAROOT "&AMQ-rger" ""`, usage, "d OK GETQUOTAROOT completed"}},
		{`e GETQUOTAROOT "Ärger"`, []string{`* QUOTAROOT "&AMQ-rger" ""`, usage, "e OK GETQUOTAROOT completed"}},
		{"f GETQUOTAROOT {7+}\r\nArchive", []string{`* QUOTAROOT "Archive" ""`, usage, "f OK GETQUOTAROOT completed"}},
		{`g GETQUOTA ""`, []string{usage, "g OK GETQUOTA completed"}},
		{"h GETQUOTA INBOX", []string{"h NO [NONEXISTENT] No such quota root"}},
		{"i GETQUOTAROOT Nowhere", []string{"i NO [NONEXISTENT] No such mailbox"}},
		{"j GETQUOTAROOT ../etc", []string{"j NO [CANNOT] Mailbox name contains '.', which separates folders on disk; use '-' or '_' instead"}},
		{"k GETQUOTAROOT &AMQ", []string{"k BAD Mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3) or UTF-8"}},
		{"l GETQUOTAROOT", []string{"l BAD GETQUOTAROOT: missing argument"}},
		{"m GETQUOTAROOT INBOX Archive", []string{"m BAD GETQUOTAROOT takes one argument"}},
		{`n GETQUOTAROOT "INBOX`, []string{`n BAD Quoted string not closed at the end of the line; close it with " or send the text as a literal`}},
		{`o SETQUOTA "" (STORAGE 512)`, []string{"o NO [NOPERM] Quotas are set by the administrator (mailgate user update ADDRESS --quota SIZE)"}},
		{"p ENABLE IMAP4rev2", []string{"* ENABLED IMAP4rev2", "p OK ENABLE completed"}},
		{"q GETQUOTAROOT &AMQ-rger", []string{`* QUOTAROOT "Ärger" ""`, usage, "q OK GETQUOTAROOT completed"}},
	}
	for _, s := range steps {
		c.expect(s.cmd+"\r\n", s.want...)
	}
	// A synchronising literal: the front asks for it.
	c.send("r GETQUOTAROOT {5}\r\n")
	if got := c.line(); got != "+ Ready for literal data" {
		t.Fatalf("synchronising literal: %q", got)
	}
	c.send("INBOX\r\n")
	if got := strings.Join(c.until("r "), "\n"); got != `* QUOTAROOT INBOX ""`+"\n"+usage+"\nr OK GETQUOTAROOT completed" {
		t.Errorf("GETQUOTAROOT with a literal:\n%s", got)
	}
	// Pipelined: each command is answered after the ones before it.
	c.send("s1 NOOP\r\ns2 GETQUOTAROOT INBOX\r\ns3 STATUS INBOX (MESSAGES)\r\ns4 GETQUOTA \"\"\r\n" +
		"s5 CAPABILITY\r\ns6 LOGOUT\r\n")
	want := "s1 OK NOOP completed\n* QUOTAROOT INBOX \"\"\n" + usage + "\ns2 OK GETQUOTAROOT completed\n" +
		"* STATUS INBOX (MESSAGES 2)\ns3 OK STATUS completed\n" + usage + "\ns4 OK GETQUOTA completed\n" +
		"* CAPABILITY " + loggedCaps + "\ns5 OK CAPABILITY completed\n* BYE Logging out\ns6 OK LOGOUT completed\n"
	if got := strings.ReplaceAll(c.rest(), "\r\n", "\n"); got != want {
		t.Errorf("pipelined commands answered:\n%s\nwant:\n%s", got, want)
	}
	m := env.srv.metrics
	// 13: the GETQUOTAROOT with an open quote is refused before it is read as one.
	for cmd, n := range map[string]float64{"GETQUOTAROOT": 13, "GETQUOTA": 3, "SETQUOTA": 1} {
		if got := value(t, m.commands.WithLabelValues(cmd)); got != n {
			t.Errorf("mailgate_imap_commands_total{command=%q} = %v, want %v", cmd, got, n)
		}
	}
}

// TestQuotaAfterContinuations: lines that answer a "+" (IDLE's DONE, a
// SASL response) are not commands, and a QUOTA command pipelined right
// after them is answered once the command before it is done.
func TestQuotaAfterContinuations(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 2000000)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a AUTHENTICATE PLAIN\r\n")
	if got := c.line(); got != "+ =" { // an empty challenge
		t.Fatalf("AUTHENTICATE without an initial response: %q", got)
	}
	c.send("AGFsaWNlAHNlY3JldA==\r\nb GETQUOTA \"\"\r\n")
	want := []string{"a OK [CAPABILITY " + loggedCaps + "] PLAIN authentication successful",
		`* QUOTA "" (STORAGE 0 1953)`, "b OK GETQUOTA completed"}
	if got := c.until("b "); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after AUTHENTICATE:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.expect("c SELECT INBOX\r\n", "* 0 EXISTS", "* 0 RECENT", "* OK [UIDVALIDITY "+uidValidity(t, env)+"] UIDs valid",
		"* OK [UIDNEXT 1] Predicted next UID", `* FLAGS (\Seen \Answered \Flagged \Deleted \Draft)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft \*)] Permanent flags`,
		"c OK [READ-WRITE] SELECT completed")
	c.send("d IDLE\r\n")
	if got := c.line(); got != "+ idling" {
		t.Fatalf("IDLE: %q", got)
	}
	if err := env.store.Deliver(context.Background(), alice, "", message("during idle", 2048), false); err != nil {
		t.Fatal(err)
	}
	if got := c.line() + "\n" + c.line(); got != "* 1 EXISTS\n* 1 RECENT" {
		t.Errorf("delivery during IDLE: %q", got)
	}
	c.send("DONE\r\ne GETQUOTAROOT INBOX\r\n")
	want = []string{"d OK IDLE completed", `* QUOTAROOT INBOX ""`, `* QUOTA "" (STORAGE 2 1953)`, "e OK GETQUOTAROOT completed"}
	if got := c.until("e "); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after IDLE:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func uidValidity(t *testing.T, env *testEnv) string {
	t.Helper()
	st, err := env.store.Status(alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return itoa(int(st.UIDValidity))
}

// TestQuotaLiteralOverLimit: a mailbox literal over 4096 bytes ends the
// connection, as for imapserver's own commands.
func TestQuotaLiteralOverLimit(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.send("b GETQUOTAROOT {5000+}\r\nc CREATE Pwned\r\n")
	if got, want := c.rest(), "* BYE Literal of 5000 bytes is over the limit of 4096 bytes for GETQUOTAROOT; closing the connection\r\n"; got != want {
		t.Errorf("server sent %q, want %q", got, want)
	}
	if env.store.FolderExists(alice, "Pwned") {
		t.Error("a command after the refused literal ran")
	}
}

// TestQuotaAfterAppendByteByByte: the client's bytes arrive one at a
// time (lines and literals split anywhere), and a GETQUOTA sent right
// behind an APPEND's data sees the appended message.
func TestQuotaAfterAppendByteByByte(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 2000000)
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	msg := string(message("appended", 3000))
	c.send("b APPEND INBOX {3000}\r\n")
	if got := c.line(); got != "+ Ready for literal data" {
		t.Fatalf("APPEND: %q", got)
	}
	script := msg + "\r\nc GETQUOTAROOT {5+}\r\nINBOX\r\nd APPEND Archive {1024+}\r\n" + string(message("second", 1024)) +
		"\r\ne GETQUOTA \"\"\r\nf LOGOUT\r\n"
	for i := range len(script) {
		c.send(script[i : i+1])
	}
	st, err := env.store.Status(alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	want := "b OK [APPENDUID " + itoa(int(st.UIDValidity)) + " 1] APPEND completed\n" +
		"* QUOTAROOT INBOX \"\"\n* QUOTA \"\" (STORAGE 3 1953)\nc OK GETQUOTAROOT completed\n"
	got := strings.ReplaceAll(c.rest(), "\r\n", "\n")
	if !strings.HasPrefix(got, want) || !strings.Contains(got, "* QUOTA \"\" (STORAGE 4 1953)\ne OK GETQUOTA completed\n* BYE Logging out\nf OK") {
		t.Errorf("server sent:\n%s\nwant it to start:\n%s\nand end with GETQUOTA at 4 KiB and LOGOUT", got, want)
	}
}

// TestStatusDeletedStorage: STATUS DELETED-STORAGE (RFC 9208, part of
// QUOTA=RES-STORAGE) gives the KiB an EXPUNGE would free.
func TestStatusDeletedStorage(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 2000000)
	deliverKnown(t, env) // INBOX: UID 1 of 1024 bytes, UID 2 of 2048
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.expect("a LOGIN alice secret\r\n", "a OK [CAPABILITY "+loggedCaps+"] Logged in")
	c.expect("b STATUS INBOX (DELETED DELETED-STORAGE)\r\n", "* STATUS INBOX (DELETED 0 DELETED-STORAGE 0)", "b OK STATUS completed")
	c.send("c SELECT INBOX\r\n")
	c.until("c OK")
	c.expect("d STORE 2 +FLAGS.SILENT (\\Deleted)\r\n", "d OK STORE completed")
	c.expect("e STATUS INBOX (DELETED DELETED-STORAGE)\r\n", "* STATUS INBOX (DELETED 1 DELETED-STORAGE 2)", "e OK STATUS completed")
	c.expect(`f LIST "" "INBOX" RETURN (STATUS (DELETED-STORAGE))`+"\r\n",
		`* LIST (\HasNoChildren \Subscribed) "/" INBOX`, "* STATUS INBOX (DELETED-STORAGE 2)", "f OK LIST completed")
	c.expect("g EXPUNGE\r\n", "* 2 EXPUNGE", "g OK EXPUNGE completed")
	// 3172 - 2048 bytes left: 2 KiB, the 4 KiB before less DELETED-STORAGE.
	c.expect(`h GETQUOTAROOT INBOX`+"\r\n", `* QUOTAROOT INBOX ""`, `* QUOTA "" (STORAGE 2 1953)`, "h OK GETQUOTAROOT completed")
}
