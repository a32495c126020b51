package mailbox

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHeaderReadsThroughBlankLineAndIsCached(t *testing.T) {
	t.Parallel()
	s := newTestStore(t, 0)
	const head = "From: a@example.org\r\nSubject: folded\r\n continued\r\n\r\n"
	mustDeliver(t, s, Inbox, head+"Body line one.\r\n\r\nBody line three.\r\n")
	mustDeliver(t, s, Inbox, "Subject: no body at all\r\n")
	mustDeliver(t, s, Inbox, "Subject: bare LF\n\nbody\n")
	snap, err := s.Messages(acct, Inbox)
	if err != nil || len(snap.Messages) != 3 {
		t.Fatalf("Messages: %v %v", snap, err)
	}
	want := []string{head, "Subject: no body at all\r\n", "Subject: bare LF\r\n\r\n"} // delivery stores CRLF
	for i, m := range snap.Messages {
		h, err := s.Header(acct, Inbox, m.UID)
		if err != nil || string(h) != want[i] {
			t.Errorf("Header(uid %d) = %q, %v; want %q", m.UID, h, err, want[i])
		}
	}
	// The second read comes from memory: it still answers after the
	// file's bytes changed under the same name (which Maildir tools never
	// do; the test uses it to see where the answer comes from).
	uid := snap.Messages[0].UID
	f, _, err := s.OpenMessage(acct, Inbox, uid)
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	f.Close()
	if err := os.WriteFile(path, []byte("Subject: rewritten\r\n\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.Header(acct, Inbox, uid); string(h) != head {
		t.Errorf("second Header read %q, want the cached %q", h, head)
	}
	if _, err := s.Header(acct, Inbox, 999); err != ErrNoMessage {
		t.Errorf("Header of a missing UID: %v, want ErrNoMessage", err)
	}
}

func TestReadHeaderBareLF(t *testing.T) {
	t.Parallel()
	h, complete, err := readHeader(strings.NewReader("Subject: x\n\nbody\n"))
	if string(h) != "Subject: x\n\n" || !complete || err != nil {
		t.Errorf("readHeader = %q, %v, %v", h, complete, err)
	}
	long := "X-Long: " + strings.Repeat("a", maxHeader) + "\r\n\r\n"
	h, complete, err = readHeader(strings.NewReader(long))
	if len(h) != maxHeader || complete || err != nil {
		t.Errorf("readHeader of a %d-byte header: %d bytes, complete=%v, %v", len(long), len(h), complete, err)
	}
}

func TestHeaderCacheStaysWithinBudget(t *testing.T) {
	t.Parallel()
	c := newHeaderCache(4096)
	h := []byte(strings.Repeat("X", 400) + "\r\n\r\n")
	for i := 0; i < 100; i++ {
		c.put(uint64(i), h)
		if c.used > c.budget {
			t.Fatalf("after %d puts the cache holds %d bytes, budget %d", i+1, c.used, c.budget)
		}
	}
	if _, ok := c.get(0); ok {
		t.Error("the oldest header is still cached")
	}
	if got, ok := c.get(99); !ok || string(got) != string(h) {
		t.Error("the newest header is not cached")
	}
	c.put(1000, make([]byte, 2048)) // over a quarter of the budget: not kept
	if _, ok := c.get(1000); ok {
		t.Error("a header bigger than a quarter of the budget was cached")
	}
}

// The header cache counts what it answers from memory and what it reads.
func TestHeaderCacheLookupsCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s, err := New(Options{Dir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), acct, Inbox, []byte("Subject: x\r\n\r\nbody\r\n"), false); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Messages(acct, Inbox)
	for i := 0; i < 3; i++ {
		if _, err := s.Header(acct, Inbox, snap.Messages[0].UID); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "mailgate_mailbox_header_cache_lookups_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if hit, miss := got["hit"], got["miss"]; hit != 2 || miss != 1 {
		t.Errorf("lookups: %v hits, %v misses; want 2 and 1", hit, miss)
	}
}
