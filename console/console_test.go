package console

import (
	"strings"
	"testing"
	"time"
)

// The sampler turns per-minute readings of the monotonic counters into
// counts per step, the live reading closing the last step.
func TestSamplerWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	c := Counts{}
	s := newSampler(func() Counts { return c }, func() time.Time { return now }, "", nil)
	for i := range 5 {
		now = now.Add(time.Minute)
		c.Accepted += float64(i + 1)
		c.Delivered += 1
		s.record()
	}
	c.Bounced = 2 // not yet sampled: the live reading counts it
	w := s.window(5*time.Minute, time.Minute)
	if len(w) != 5 {
		t.Fatalf("%d steps", len(w))
	}
	var acc, bounced float64
	for _, st := range w {
		acc += st.Accepted
		bounced += st.Bounced
	}
	if acc != 15 || w[4].Accepted != 5 || bounced != 2 {
		t.Errorf("window %+v: accepted %v (want 15, last step 5), bounced %v (want 2)", w, acc, bounced)
	}
	ch := newChart("t", "-5m", w)
	if ch.Max != 5 || len(ch.Series) != 4 || strings.Count(ch.Series[0].Points, ",") != 5 {
		t.Errorf("chart %+v", ch)
	}
}

// The vacation form's text cannot break out of its Sieve string.
func TestVacationSource(t *testing.T) {
	t.Parallel()
	got := vacationSource(7, "Away\nnow", "Back \"soon\" \\ ok\nbye")
	want := "# written by the web console's vacation form\nrequire [\"vacation\"];\n" +
		"vacation :days 7 :subject \"Away now\" \"Back \\\"soon\\\" \\\\ ok\r\nbye\";\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"100": 100, "2GB": 2 << 30, "500 mb": 500 << 20, "1KB": 1024} {
		if n, err := parseSize(in); err != nil || n != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "99999999999GB"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// A login may only send the browser on to a console page of this site.
func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/admin/messages": "/admin/messages", "/account/": "/account/", "//evil.example/": "", "https://evil.example/admin/": "",
		"/admin/\\evil": "", "/metrics": "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// Sessions end after the idle time and after their lifetime.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	ss := newSessions(time.Minute, 3*time.Minute, func() time.Time { return now })
	s := ss.create("a@example.com")
	for range 4 { // busy: 40s apart, within the idle time
		now = now.Add(40 * time.Second)
		if ss.get(s.id) == nil {
			t.Fatalf("ended at %v", now.Sub(s.created))
		}
	}
	now = now.Add(40 * time.Second) // 200s after login: past the lifetime
	if ss.get(s.id) != nil {
		t.Error("alive past its lifetime")
	}
	s2 := ss.create("a@example.com")
	now = now.Add(61 * time.Second)
	if ss.get(s2.id) != nil {
		t.Error("alive past the idle time")
	}
}
