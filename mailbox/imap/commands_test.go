package imap

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const multipart = "From: Ann Example <ann@example.org>\r\n" +
	"To: alice@example.com\r\n" +
	"Subject: Quarterly report\r\n" +
	"Date: Mon, 02 Jan 2023 15:04:05 +0000\r\n" +
	"Message-ID: <r1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=XX\r\n" +
	"\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Revenue went up by pineapple percent.\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"aGVsbG8gd29ybGQ=\r\n" +
	"--XX--\r\n"

func appendMsg(t *testing.T, c *imapclient.Client, folder, body string, opts *goimap.AppendOptions) *goimap.AppendData {
	t.Helper()
	cmd := c.Append(folder, int64(len(body)), opts)
	io.WriteString(cmd, body)
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return data
}

func TestFolderCommands(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	for _, name := range []string{"Projects", "Projects/2024"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	if err := c.Create("Projects", nil).Wait(); err == nil || !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Errorf("CREATE twice: %v", err)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../b", "Proj.ects", "INBOX/sub"} {
		err := c.Create(bad, nil).Wait()
		if err == nil || !strings.Contains(err.Error(), "CANNOT") {
			t.Errorf("CREATE %q: %v, want NO [CANNOT]", bad, err)
		}
	}
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	appendMsg(t, c, "Work/2024", "Subject: a\r\n\r\nx\r\n", nil)
	list, err := c.List("", "*", &goimap.ListOptions{ReturnStatus: &goimap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range list {
		var attrs []string
		for _, a := range d.Attrs {
			attrs = append(attrs, string(a))
		}
		got[d.Mailbox] = strings.Join(attrs, " ")
		if d.Mailbox == "Work/2024" && (d.Status == nil || *d.Status.NumMessages != 1) {
			t.Errorf("LIST-STATUS of Work/2024: %+v", d.Status)
		}
	}
	want := map[string]string{
		"INBOX": `\HasNoChildren \Subscribed`, "Sent": `\HasNoChildren \Subscribed \Sent`,
		"Drafts": `\HasNoChildren \Subscribed \Drafts`, "Trash": `\HasNoChildren \Subscribed \Trash`,
		"Junk": `\HasNoChildren \Subscribed \Junk`, "Archive": `\HasNoChildren \Subscribed \Archive`,
		"Work": `\HasChildren`, "Work/2024": `\HasNoChildren`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("LIST %s: attrs %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("LIST returned %v", got)
	}
	if err := c.Subscribe("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, _ := c.List("", "*", &goimap.ListOptions{SelectSubscribed: true}).Collect()
	if len(subs) != 7 {
		t.Errorf("LIST (SUBSCRIBED) returned %d folders, want 7", len(subs))
	}
	if err := c.Unsubscribe("Work").Wait(); err != nil {
		t.Fatal(err)
	}
	special, _ := c.List("", "*", &goimap.ListOptions{SelectSpecialUse: true}).Collect()
	if len(special) != 5 {
		t.Errorf("LIST (SPECIAL-USE) returned %d folders, want 5", len(special))
	}
	st, err := c.Status("Work/2024", &goimap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 1 || st.UIDNext != 2 || *st.NumUnseen != 1 || *st.Size != 17 {
		t.Errorf("STATUS: messages %d unseen %d size %d uidnext %d, %v", *st.NumMessages, *st.NumUnseen, *st.Size, st.UIDNext, err)
	}
	if err := c.Delete("Work/2024").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	if _, err := c.Status("Work/2024", nil).Wait(); err == nil || !strings.Contains(err.Error(), "NONEXISTENT") {
		t.Errorf("STATUS of deleted folder: %v", err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Errorf("NAMESPACE: %+v, %v", ns, err)
	}
}

func TestAppendAndFetch(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	date := time.Date(2023, 1, 2, 15, 4, 5, 0, time.FixedZone("", 2*3600))
	ad := appendMsg(t, c, "INBOX", multipart, &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagFlagged, "$Work"}, Time: date})
	if ad.UID != 1 || ad.UIDValidity == 0 {
		t.Errorf("APPENDUID: %+v", ad)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	header := &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject"}, Peek: true}
	part1 := &goimap.FetchItemBodySection{Part: []int{1}, Peek: true}
	partial := &goimap.FetchItemBodySection{Peek: true, Partial: &goimap.SectionPartial{Offset: 6, Size: 15}}
	bin := &goimap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &goimap.FetchItemBodyStructure{Extended: true},
		BodySection:   []*goimap.FetchItemBodySection{header, part1, partial},
		BinarySection: []*goimap.FetchItemBinarySection{bin},
	}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %d messages", err, len(msgs))
	}
	m := msgs[0]
	if got := flagStrings(m.Flags); got != `$Work \Flagged \Recent` {
		t.Errorf("FLAGS %q", got)
	}
	if !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(multipart)) {
		t.Errorf("INTERNALDATE %v, RFC822.SIZE %d", m.InternalDate, m.RFC822Size)
	}
	if m.Envelope == nil || m.Envelope.Subject != "Quarterly report" || m.Envelope.From[0].Addr() != "ann@example.org" {
		t.Errorf("ENVELOPE %+v", m.Envelope)
	}
	if mp, ok := m.BodyStructure.(*goimap.BodyStructureMultiPart); !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
		t.Errorf("BODYSTRUCTURE %#v", m.BodyStructure)
	}
	checks := map[string][2]string{
		"header":  {string(m.FindBodySection(header)), "Subject: Quarterly report\r\n\r\n"},
		"part 1":  {string(m.FindBodySection(part1)), "Revenue went up by pineapple percent."},
		"partial": {string(m.FindBodySection(partial)), "Ann Example <an"},
		"binary":  {string(m.FindBinarySection(bin)), "hello world"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s: %q, want %q", name, c[0], c[1])
		}
	}
	// BODY[] without PEEK returns the exact bytes and sets \Seen.
	full := &goimap.FetchItemBodySection{}
	msgs, _ = c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{full}}).Collect()
	if got := string(msgs[0].FindBodySection(full)); got != multipart {
		t.Errorf("BODY[] differs from the appended message:\n%q", got)
	}
	if got := flagStrings(msgs[0].Flags); got != `$Work \Flagged \Recent \Seen` {
		t.Errorf("FLAGS after BODY[]: %q", got)
	}
}

func flagStrings(fs []goimap.Flag) string {
	var s []string
	for _, f := range fs {
		s = append(s, string(f))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func TestStoreSearchCopyMoveExpunge(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	old := time.Date(2020, 5, 1, 12, 0, 0, 0, time.UTC)
	appendMsg(t, c, "INBOX", multipart, &goimap.AppendOptions{Time: old})
	appendMsg(t, c, "INBOX", "Subject: lunch\r\nFrom: bob@example.com\r\n\r\nSee you at noon\r\n", nil)
	appendMsg(t, c, "INBOX", "Subject: invoice\r\n\r\n"+strings.Repeat("long line of text\r\n", 200), nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	stored, err := c.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagSeen, "$Later"}}, nil).Collect()
	if err != nil || len(stored) != 1 || flagStrings(stored[0].Flags) != `$Later \Recent \Seen` {
		t.Fatalf("STORE +FLAGS: %+v, %v", stored, err)
	}
	search := func(crit *goimap.SearchCriteria) string {
		t.Helper()
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH: %v", err)
		}
		return d.All.String()
	}
	cases := []struct {
		name string
		crit goimap.SearchCriteria
		want string
	}{
		{"seen", goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagSeen}}, "2"},
		{"unseen", goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}}, "1,3"},
		{"keyword", goimap.SearchCriteria{Flag: []goimap.Flag{"$later"}}, "2"},
		{"header", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "BOB@"}}}, "2"},
		{"subject", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "invoice"}}}, "3"},
		{"body", goimap.SearchCriteria{Body: []string{"PINEAPPLE"}}, "1"},
		{"body not in header", goimap.SearchCriteria{Body: []string{"lunch"}}, ""},
		{"text in header", goimap.SearchCriteria{Text: []string{"lunch"}}, "2"},
		{"larger", goimap.SearchCriteria{Larger: 1000}, "3"},
		{"smaller", goimap.SearchCriteria{Smaller: 100}, "2"},
		{"before", goimap.SearchCriteria{Before: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}, "1"},
		{"sentsince", goimap.SearchCriteria{SentSince: time.Date(2023, 1, 2, 0, 0, 0, 0, time.UTC)}, "1"},
		{"not", goimap.SearchCriteria{Not: []goimap.SearchCriteria{{Larger: 1000}}}, "1:2"},
		{"or", goimap.SearchCriteria{Or: [][2]goimap.SearchCriteria{{{Body: []string{"noon"}}, {Larger: 1000}}}}, "2:3"},
		{"uid range", goimap.SearchCriteria{UID: []goimap.UIDSet{{{Start: 2, Stop: 0}}}}, "2:3"},
	}
	for _, tc := range cases {
		if got := search(&tc.crit); got != tc.want {
			t.Errorf("SEARCH %s: %q, want %q", tc.name, got, tc.want)
		}
	}
	cd, err := c.Copy(goimap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.SourceUIDs.String() != "1:2" || cd.DestUIDs.String() != "1:2" {
		t.Errorf("COPY: %+v, %v", cd, err)
	}
	if _, err := c.Copy(goimap.SeqSetNum(1), "Nowhere").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing folder: %v", err)
	}
	md, err := c.Move(goimap.SeqSetNum(3), "Trash").Wait()
	if err != nil || md.DestUIDs.String() != "1" {
		t.Errorf("MOVE: %+v, %v", md, err)
	}
	c.Store(goimap.SeqSetNum(1, 2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close()
	exp, err := c.UIDExpunge(goimap.UIDSetNum(1)).Collect()
	if err != nil || len(exp) != 1 || exp[0] != 1 {
		t.Errorf("UID EXPUNGE 1: %v, %v", exp, err)
	}
	exp, err = c.Expunge().Collect()
	if err != nil || len(exp) != 1 || exp[0] != 1 {
		t.Errorf("EXPUNGE: %v, %v", exp, err)
	}
	st, _ := env.store.Status(alice, "INBOX")
	if st.Messages != 0 {
		t.Errorf("INBOX has %d messages after expunging all", st.Messages)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Errorf("UNSELECT: %v", err)
	}
}

func TestOverQuotaAppend(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 100)
	c := env.login(t, nil)
	cmd := c.Append("INBOX", 200, nil)
	io.WriteString(cmd, strings.Repeat("x", 200))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "OVERQUOTA") {
		t.Errorf("APPEND over quota: %v, want NO [OVERQUOTA]", err)
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.Deliver(context.Background(), alice, "", []byte("Subject: a\r\n\r\nb\r\n"), false)
	c := env.login(t, nil)
	if _, err := c.Select("INBOX", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	full := &goimap.FetchItemBodySection{}
	c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodySection: []*goimap.FetchItemBodySection{full}}).Collect()
	if err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err == nil {
		t.Error("STORE in EXAMINE succeeded")
	}
	snap, _ := env.store.Messages(alice, "INBOX")
	if len(snap.Messages[0].Flags) != 0 {
		t.Errorf("EXAMINE changed flags: %v", snap.Messages[0].Flags)
	}
}

func TestEnableIMAP4rev2(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	data, err := c.Enable(goimap.CapIMAP4rev2).Wait()
	if err != nil || !data.Caps.Has(goimap.CapIMAP4rev2) {
		t.Errorf("ENABLE IMAP4rev2: %+v, %v", data, err)
	}
}

func TestInternationalFolderName(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	if err := c.Create("Café/Größe", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "Caf*", nil).Collect()
	if err != nil || len(list) != 2 || list[0].Mailbox != "Café" || list[1].Mailbox != "Café/Größe" {
		t.Fatalf("LIST: %+v, %v", list, err)
	}
	raw := dialRaw(t, env.tlsAddr, true)
	raw.line()
	raw.send("a LOGIN alice secret\r\nb LIST \"\" Caf%\r\n")
	if got := raw.until("b "); got[1] != `* LIST (\HasChildren) "/" "Caf&AOk-"` {
		t.Errorf("LIST on the wire: %q, want modified UTF-7", got)
	}
}
