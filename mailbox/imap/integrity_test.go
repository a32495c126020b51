package imap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailgate/internal/mboxgen"
)

// ledger is every message the integrity test appended, by Message-ID
// (each message of mboxgen has its own), and which UID each got.
type ledger struct {
	mu    sync.Mutex
	byID  map[string][]byte
	byUID map[string]string // account/uid -> Message-ID
}

var messageID = regexp.MustCompile(`(?m)^Message-ID: <([^>]+)>`)

// idOf is the first Message-ID header: the top-level message's, as a
// forwarded message's headers come after it.
func idOf(b []byte) string {
	if m := messageID.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

// check fails unless body is exactly what was appended under its
// Message-ID and, when the UID's append already returned, that UID's.
func (l *ledger) check(t *testing.T, account string, uid goimap.UID, what string, body []byte, whole bool) {
	t.Helper()
	id := idOf(body)
	l.mu.Lock()
	want, known := l.byID[id]
	uidID, uidKnown := l.byUID[fmt.Sprint(account, "/", uid)]
	l.mu.Unlock()
	switch {
	case !known:
		t.Errorf("%s: UID %d %s holds no message that was appended (%d bytes): %.200q", account, uid, what, len(body), body)
	case uidKnown && uidID != id:
		t.Errorf("%s: UID %d %s is message %s, but UID %d was appended as %s", account, uid, what, id, uid, uidID)
	case whole && !bytes.Equal(body, want):
		t.Errorf("%s: UID %d %s: %d bytes differ from the %d appended", account, uid, what, len(body), len(want))
	case !whole && !bytes.HasPrefix(want, body):
		t.Errorf("%s: UID %d %s is not the start of the appended message", account, uid, what)
	}
}

// TestConcurrentSessionsSeeOnlyTheirMessagesBytes: eight sessions on two
// accounts append varied messages (mboxgen), fetch everything in
// their INBOX (BODY[], the cached header path, ENVELOPE), and expunge at
// random, all at once. Every byte fetched must be exactly what was
// appended for that message, never empty, cut or another message's
// (another account's above all); a FETCH that names a message another
// session expunged gets the old content or NO [EXPUNGEISSUED].
func TestConcurrentSessionsSeeOnlyTheirMessagesBytes(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	const sessions, rounds = 8, 12
	msgs := mboxgen.Messages(sessions*rounds, 42)
	l := &ledger{byID: map[string][]byte{}, byUID: map[string]string{}}
	for _, m := range msgs {
		l.byID[idOf(m)] = m
	}
	var wg sync.WaitGroup
	for s := 0; s < sessions; s++ {
		user, pass, account := "alice", "secret", alice
		if s%2 == 1 {
			user, pass, account = "bob@example.com", "hunter2", "bob@example.com"
		}
		c, err := imapclient.DialTLS(env.tlsAddr, &imapclient.Options{TLSConfig: clientTLS})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Login(user, pass).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(s), 7))
			for i := 0; i < rounds; i++ {
				appendOne(t, c, l, account, msgs[s*rounds+i])
				fetchAll(t, c, l, account)
				expungeSome(t, c, r)
			}
		}(s)
	}
	wg.Wait()
}

func appendOne(t *testing.T, c *imapclient.Client, l *ledger, account string, msg []byte) {
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Errorf("APPEND: %v", err)
		return
	}
	l.mu.Lock()
	l.byUID[fmt.Sprint(account, "/", data.UID)] = idOf(msg)
	l.mu.Unlock()
}

// fetchAll fetches every message twice: the whole file (BODY[],
// BODYSTRUCTURE) and the header-cache path (ENVELOPE, BODY[HEADER]).
func fetchAll(t *testing.T, c *imapclient.Client, l *ledger, account string) {
	whole := &goimap.FetchItemBodySection{Peek: true}
	header := &goimap.FetchItemBodySection{Peek: true, Specifier: goimap.PartSpecifierHeader}
	for _, o := range []*goimap.FetchOptions{
		{UID: true, BodySection: []*goimap.FetchItemBodySection{whole}, BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}},
		{UID: true, Envelope: true, BodySection: []*goimap.FetchItemBodySection{header}},
	} {
		got, err := c.Fetch(goimap.SeqSet{{Start: 1, Stop: 0}}, o).Collect()
		var ierr *goimap.Error
		if err != nil && !(errors.As(err, &ierr) && ierr.Code == "EXPUNGEISSUED") {
			t.Errorf("FETCH: %v", err)
			return
		}
		for _, m := range got {
			if b := m.FindBodySection(whole); o.BodyStructure != nil {
				l.check(t, account, m.UID, "BODY[]", b, true)
				if m.BodyStructure == nil {
					t.Errorf("UID %d: no BODYSTRUCTURE", m.UID)
				}
			}
			if b := m.FindBodySection(header); o.Envelope {
				l.check(t, account, m.UID, "BODY[HEADER]", b, false)
				if m.Envelope == nil || m.Envelope.MessageID != idOf(b) {
					t.Errorf("UID %d: ENVELOPE %+v does not belong to message %s", m.UID, m.Envelope, idOf(b))
				}
			}
		}
	}
}

// expungeSome marks a few messages \Deleted and expunges them.
func expungeSome(t *testing.T, c *imapclient.Client, r *rand.Rand) {
	n := c.Mailbox().NumMessages
	if n == 0 {
		return
	}
	var set goimap.SeqSet
	for k := 0; k < 2; k++ {
		set.AddNum(uint32(r.IntN(int(n))) + 1)
	}
	store := &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}
	if err := c.Store(set, store, nil).Close(); err != nil {
		t.Errorf("STORE: %v", err)
	}
	if err := c.Expunge().Close(); err != nil {
		t.Errorf("EXPUNGE: %v", err)
	}
}

// A message file that something outside mailgate cut short after it
// was stored cannot fill the literal FETCH announced from the stored
// size: the connection is closed (and the error logged) instead of
// leaving the client waiting for bytes that never come.
func TestShortenedFileClosesTheConnection(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	if err := env.store.Deliver(context.Background(), alice, "", []byte("Subject: cut\r\n\r\n"+strings.Repeat("body\r\n", 100)), false); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(env.dir, alice, "new", "*"))
	if len(files) != 1 {
		t.Fatalf("files in new/: %v", files)
	}
	if err := os.Truncate(files[0], 20); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, env.tlsAddr, true)
	c.line()
	c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n")
	c.until("b OK")
	c.send("c FETCH 1 BODY.PEEK[]\r\n")
	buf := make([]byte, 4096)
	for {
		_, err := c.r.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection stayed open with the literal unfinished")
		}
		if err != nil {
			break
		}
	}
}
