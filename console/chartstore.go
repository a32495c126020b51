package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"mailgate/internal/safefile"
)

// The charts' samples on disk: a small JSON file in the data directory,
// written atomically (internal/safefile) every saveEvery and at shutdown,
// read once at start. A file that cannot be read is logged and ignored:
// the charts start empty, as they did before the file existed.

// maxChartFile bounds what load reads: a full ring is about 120 KB.
const maxChartFile = 1 << 20

// chartFile is the file's form; a sample is [unix seconds (to the
// millisecond), accepted, delivered, deferred, bounced] to keep it small.
type chartFile struct {
	Version int          `json:"version"`
	Samples [][5]float64 `json:"samples"`
}

const chartFileVersion = 1

// load reads the kept ring: samples of the last day only, in time
// order, none in the future; base becomes the file's last reading.
func (s *sampler) load() {
	if s.file == "" {
		return
	}
	pts, err := readChartFile(s.file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("console: chart history not loaded; the charts start empty", "file", s.file, "err", err)
		}
		return
	}
	now := s.now()
	var ring []sample
	for _, p := range pts {
		if p.at.After(now) || now.Sub(p.at) > 24*time.Hour+time.Minute {
			continue
		}
		if n := len(ring); n > 0 && p.at.Before(ring[n-1].at) {
			continue // the clock went back
		}
		// Two samples may share an instant (a run shorter than the
		// timestamps' grain); both are kept, in the order taken.
		ring = append(ring, p)
	}
	if len(ring) > ringSize {
		ring = ring[len(ring)-ringSize:]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ring = ring
	if len(pts) > 0 {
		// The counters only rise, so the file's last reading is the
		// total so far, whether or not its sample was kept.
		s.base = pts[len(pts)-1].c
	}
}

func readChartFile(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxChartFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxChartFile {
		return nil, fmt.Errorf("larger than %d bytes", maxChartFile)
	}
	var cf chartFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, err
	}
	if cf.Version != chartFileVersion {
		return nil, fmt.Errorf("version %d, want %d", cf.Version, chartFileVersion)
	}
	out := make([]sample, 0, len(cf.Samples))
	for _, v := range cf.Samples {
		c := Counts{Accepted: v[1], Delivered: v[2], Deferred: v[3], Bounced: v[4]}
		if c.Accepted < 0 || c.Delivered < 0 || c.Deferred < 0 || c.Bounced < 0 {
			return nil, errors.New("a negative count")
		}
		out = append(out, sample{at: time.UnixMilli(int64(math.Round(v[0] * 1000))), c: c})
	}
	return out, nil
}

// save writes the ring if it changed since the last save.
func (s *sampler) save() {
	if s.file == "" {
		return
	}
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	cf := chartFile{Version: chartFileVersion, Samples: make([][5]float64, 0, len(s.ring))}
	for _, p := range s.ring {
		cf.Samples = append(cf.Samples, [5]float64{float64(p.at.UnixMilli()) / 1000, p.c.Accepted, p.c.Delivered, p.c.Deferred, p.c.Bounced})
	}
	s.dirty = false
	s.mu.Unlock()
	b, err := json.Marshal(cf)
	if err == nil {
		err = safefile.WriteFile(s.file, append(b, '\n'), 0o600)
	}
	if err != nil {
		s.log.Error("console: chart history not saved", "file", s.file, "err", err)
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
}
