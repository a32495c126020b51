package console

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// ringSize keeps a day of per-minute samples, plus the one before.
const ringSize = 24*60 + 1

// sampler keeps a per-minute reading of the mail counters, so the
// overview can chart the last hour and day without a time-series store.
// The ring is kept in a file (chartstore.go) across restarts; the
// counters start at 0 in a new process, so base, the last reading kept,
// is added to each new one and the series keeps rising.
type sampler struct {
	read func() Counts
	now  func() time.Time
	file string // "" keeps nothing
	log  *slog.Logger

	mu    sync.Mutex
	ring  []sample // oldest first, at most ringSize
	base  Counts
	dirty bool // samples since the last save
}

type sample struct {
	at time.Time
	c  Counts
}

// saveEvery is how often the ring is written while the server runs; a
// crash loses at most this much of the charts' history.
const saveEvery = 5 * time.Minute

func newSampler(read func() Counts, now func() time.Time, file string, log *slog.Logger) *sampler {
	s := &sampler{read: read, now: now, file: file, log: log}
	s.load()
	s.record()
	return s
}

// run samples once a minute and saves every saveEvery until ctx ends,
// then takes a last sample and saves it.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	save := time.NewTicker(saveEvery)
	defer save.Stop()
	for {
		select {
		case <-ctx.Done():
			s.record()
			s.save()
			return
		case <-t.C:
			s.record()
		case <-save.C:
			s.save()
		}
	}
}

// reading is the counters now, continued from the kept history.
func (s *sampler) reading() Counts {
	c := s.read()
	s.mu.Lock()
	b := s.base
	s.mu.Unlock()
	return Counts{Accepted: b.Accepted + c.Accepted, Delivered: b.Delivered + c.Delivered,
		Deferred: b.Deferred + c.Deferred, Bounced: b.Bounced + c.Bounced}
}

func (s *sampler) record() {
	if s.read == nil {
		return
	}
	smp := sample{at: s.now(), c: s.reading()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = append(s.ring, smp)
	if len(s.ring) > ringSize {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-ringSize:]...)
	}
	s.dirty = true
}

// window is the counts of each step of span, oldest first: steps of
// step length, ending now (the live reading closes the last step).
func (s *sampler) window(span, step time.Duration) []Counts {
	if s.read == nil {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	pts := append([]sample(nil), s.ring...)
	s.mu.Unlock()
	pts = append(pts, sample{at: now, c: s.reading()})
	n := int(span / step)
	out := make([]Counts, n)
	for i := range n {
		from, to := now.Add(-span+time.Duration(i)*step), now.Add(-span+time.Duration(i+1)*step)
		out[i] = diff(at(pts, to), at(pts, from))
	}
	return out
}

// at is the reading in effect at t: the last sample not after it (the
// first sample if t is before them all).
func at(pts []sample, t time.Time) Counts {
	c := pts[0].c
	for _, p := range pts {
		if p.at.After(t) {
			break
		}
		c = p.c
	}
	return c
}

func diff(a, b Counts) Counts {
	return Counts{Accepted: max(0, a.Accepted-b.Accepted), Delivered: max(0, a.Delivered-b.Delivered),
		Deferred: max(0, a.Deferred-b.Deferred), Bounced: max(0, a.Bounced-b.Bounced)}
}

// chart is one small SVG line chart of the four series.
type chart struct {
	Title      string
	Width      int
	Height     int
	Series     []series
	Max        float64
	Total      Counts
	StartLabel string
}

type series struct {
	Name, Class string
	Points      string // SVG polyline points
	Total       float64
}

const chartW, chartH = 360, 90

func newChart(title, startLabel string, steps []Counts) chart {
	ch := chart{Title: title, Width: chartW, Height: chartH, StartLabel: startLabel}
	get := []struct {
		name, class string
		f           func(Counts) float64
	}{
		{"accepted", "s-accepted", func(c Counts) float64 { return c.Accepted }},
		{"delivered", "s-delivered", func(c Counts) float64 { return c.Delivered }},
		{"deferred", "s-deferred", func(c Counts) float64 { return c.Deferred }},
		{"bounced", "s-bounced", func(c Counts) float64 { return c.Bounced }},
	}
	for _, c := range steps {
		for _, g := range get {
			ch.Max = max(ch.Max, g.f(c))
		}
	}
	top := max(ch.Max, 1)
	for _, g := range get {
		sr := series{Name: g.name, Class: g.class}
		var pts []string
		for i, c := range steps {
			v := g.f(c)
			sr.Total += v
			x := float64(i) * float64(chartW) / float64(max(len(steps)-1, 1))
			y := float64(chartH-2) - v/top*float64(chartH-4)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		sr.Points = strings.Join(pts, " ")
		ch.Series = append(ch.Series, sr)
	}
	return ch
}
