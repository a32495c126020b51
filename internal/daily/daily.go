// Package daily keeps per-day report data on disk: one JSON file per UTC
// day, and a list of what was already sent for that day, so a restart
// neither loses the counts nor sends a report twice. TLS-RPT and DMARC
// aggregate reports both use it.
package daily

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"mailgate/internal/safefile"
)

// Dir is a directory of day files.
type Dir string

func (d Dir) file(date, ext string) string { return filepath.Join(string(d), date+ext) }

// Save writes v as the data of date, atomically and durably.
func (d Dir) Save(date string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return err
	}
	return safefile.WriteFile(d.file(date, ".json"), b, 0o600)
}

// Load reads the data of date into v; false when there is none or it is
// damaged (the day then starts again rather than stop counting).
func (d Dir) Load(date string, v any) bool {
	b, err := os.ReadFile(d.file(date, ".json"))
	return err == nil && json.Unmarshal(b, v) == nil
}

// Dates lists the days with data, oldest first.
func (d Dir) Dates() ([]string, error) {
	ents, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range ents {
		if day, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			if _, err := time.Parse(time.DateOnly, day); err == nil {
				out = append(out, day)
			}
		}
	}
	sort.Strings(out)
	return out, err
}

// Sent lists the keys marked sent for date.
func (d Dir) Sent(date string) map[string]bool {
	b, _ := os.ReadFile(d.file(date, ".sent"))
	out := map[string]bool{}
	for _, k := range strings.Fields(string(b)) {
		out[k] = true
	}
	return out
}

// MarkSent records that key's report for date went out.
func (d Dir) MarkSent(date, key string) error {
	f, err := os.OpenFile(d.file(date, ".sent"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Yesterday is the UTC date before now's.
func Yesterday(now time.Time) string { return now.UTC().AddDate(0, 0, -1).Format(time.DateOnly) }

// Today is now's UTC date.
func Today(now time.Time) string { return now.UTC().Format(time.DateOnly) }

// Job is the daily routine of a report kind.
type Job struct {
	What  string       // "TLS" or "DMARC", for the log
	Flush func() error // save the counts
	// SendDay sends a finished day's reports; nil keeps counts only.
	SendDay func(ctx context.Context, date string) error
	Now     func() time.Time
	Logger  *slog.Logger
}

// Run flushes the counts every minute and, each hour, sends yesterday's
// reports that are not sent yet, until ctx ends; then flushes once more.
func (j Job) Run(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	var lastTry time.Time
	for {
		if err := j.Flush(); err != nil {
			j.Logger.Warn(j.What+" report counts not saved", "error", err)
		}
		if now := j.Now(); j.SendDay != nil && now.Sub(lastTry) >= time.Hour {
			lastTry = now
			if err := j.SendDay(ctx, Yesterday(now)); err != nil {
				j.Logger.Warn(j.What+" reports not sent; retrying in an hour", "error", err)
			} else {
				j.Logger.Info(j.What+" reports checked", "date", Yesterday(now))
			}
		}
		select {
		case <-ctx.Done():
			j.Flush()
			return
		case <-tick.C:
		}
	}
}

// Reporter is what the report senders share: who we are, how a report
// leaves (the queue, DKIM-signed) and the clock.
type Reporter struct {
	LookupTXT func(ctx context.Context, name string) ([]string, error)
	Submit    func(ctx context.Context, from string, to []string, msg []byte) error
	Org       string // organization name in reports
	Contact   string // contact address, and the From of report mail
	Submitter string // our host name
	Logger    *slog.Logger
	Now       func() time.Time
	Send      bool // reports.send; without it only the counts are kept
}

// Clock is Now, or time.Now.
func (r *Reporter) Clock() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Log is Logger, or one that drops everything.
func (r *Reporter) Log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// RunJob keeps counts on disk with flush and, when sending is on, sends
// each finished day with sendDay, until ctx ends.
func (r *Reporter) RunJob(ctx context.Context, what string, flush func() error, sendDay func(context.Context, string) error) {
	j := Job{What: what, Flush: flush, Now: r.Clock, Logger: r.Log()}
	if r.Send {
		j.SendDay = sendDay
	}
	j.Run(ctx)
}
