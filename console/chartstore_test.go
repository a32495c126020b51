package console

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A new sampler (a restart) loads the kept ring and continues it: the
// counters start at 0 again, but the charts still show what came before,
// and what comes after adds to it.
func TestSamplerKeepsHistoryAcrossRestart(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "charts.json")
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	c := Counts{}
	s := newSampler(func() Counts { return c }, clock, file, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	now = now.Add(time.Minute)
	c.Accepted, c.Delivered = 7, 5
	cancel() // shutdown: a last sample, saved
	<-done

	now = now.Add(2 * time.Minute)
	c = Counts{Accepted: 1} // the new process's counters
	s2 := newSampler(func() Counts { return c }, clock, file, slog.New(slog.DiscardHandler))
	var acc, del float64
	for _, st := range s2.window(time.Hour, time.Minute) {
		acc += st.Accepted
		del += st.Delivered
	}
	if acc != 8 || del != 5 {
		t.Errorf("after the restart the last hour shows accepted %v, delivered %v; want 8 and 5", acc, del)
	}
}

// A run shorter than a second (start, mail, stop) keeps its counts: the
// first sample and the one at shutdown share a second, and the later
// reading is the one a restart continues from. Found by the e2e restart
// test, which failed in CI when its first run fit in one second.
func TestSamplerKeepsAShortRun(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "charts.json")
	now := time.Date(2026, 12, 5, 10, 0, 0, 100e6, time.UTC)
	clock := func() time.Time { return now }
	c := Counts{}
	s := newSampler(func() Counts { return c }, clock, file, slog.New(slog.DiscardHandler))
	c.Accepted, c.Delivered = 2, 2
	now = now.Add(300 * time.Millisecond)
	s.record()
	s.save()
	// An older file written with whole seconds has the same shape.
	old := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(old, []byte(`{"version":1,"samples":[[1796464800,0,0,0,0],[1796464800,2,2,0,0]]}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, old} {
		c = Counts{}
		s2 := newSampler(func() Counts { return c }, clock, f, slog.New(slog.DiscardHandler))
		var acc float64
		for _, st := range s2.window(time.Hour, time.Minute) {
			acc += st.Accepted
		}
		if acc != 2 {
			t.Errorf("%s: after the restart the last hour shows accepted %v, want 2", filepath.Base(f), acc)
		}
	}
}

// A broken, oversized or stale file is logged and ignored: the charts
// start empty and the server starts.
func TestSamplerIgnoresBadFile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for name, data := range map[string]string{
		"corrupt":  `{"version":1,"samples":[[1,2,`,
		"version":  `{"version":9,"samples":[]}`,
		"negative": `{"version":1,"samples":[[1796464800,-1,0,0,0]]}`,
		"huge":     `{"version":1,"samples":[` + strings.Repeat(`[1,1,1,1,1],`, maxChartFile/12) + `[1,1,1,1,1]]}`,
	} {
		file := filepath.Join(t.TempDir(), "charts.json")
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		s := newSampler(func() Counts { return Counts{} }, func() time.Time { return now }, file, slog.New(slog.NewTextHandler(&logs, nil)))
		if len(s.ring) != 1 || s.base != (Counts{}) {
			t.Errorf("%s: ring %v, base %v; want only the start sample", name, s.ring, s.base)
		}
		if !strings.Contains(logs.String(), "chart history not loaded") {
			t.Errorf("%s: not logged: %q", name, logs.String())
		}
	}
	stale := filepath.Join(t.TempDir(), "charts.json")
	os.WriteFile(stale, []byte(`{"version":1,"samples":[[1000,5,5,0,0]]}`), 0o600)
	s := newSampler(func() Counts { return Counts{} }, func() time.Time { return now }, stale, slog.New(slog.DiscardHandler))
	if len(s.ring) != 1 {
		t.Errorf("a sample older than a day was kept: %v", s.ring)
	}
}
