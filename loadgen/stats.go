// Package loadgen is mailgate's benchmark instrument: an SMTP load
// generator (Send), a counting SMTP sink (Sink) and an IMAP client load
// (IMAPLoad). The figures go to the caller as a Result; cmd/mailgate's
// `bench` subcommand prints them and bench/compare collects them.
package loadgen

import (
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what one load run measured. Times are Unix nanoseconds so a
// script can line them up with the sink's clock on the same machine.
type Result struct {
	Sent      int64            `json:"sent"`   // transactions answered 2xx
	Failed    int64            `json:"failed"` // transactions that ended in an error
	Errors    map[string]int64 `json:"errors"` // by reply code ("421", "conn", ...)
	StartNs   int64            `json:"start_ns"`
	EndNs     int64            `json:"end_ns"`
	Seconds   float64          `json:"seconds"`
	PerSecond float64          `json:"per_second"`
	Latency   Latency          `json:"latency_ms"`
	// Ops holds per-operation figures of an IMAP load.
	Ops map[string]Latency `json:"ops,omitempty"`
}

// Latency summarises a set of durations in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// recorder collects latencies and errors from many goroutines.
type recorder struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	errors map[string]int64
	ok     atomic.Int64
	failed atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{lat: map[string][]time.Duration{}, errors: map[string]int64{}}
}

func (r *recorder) success(op string, d time.Duration) {
	r.mu.Lock()
	r.lat[op] = append(r.lat[op], d)
	r.mu.Unlock()
	r.ok.Add(1)
}

func (r *recorder) failure(code string) {
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
	r.failed.Add(1)
}

// result summarises the run; main names the operation whose latencies are
// the headline figure.
func (r *recorder) result(main string, start, end time.Time) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{
		Sent: r.ok.Load(), Failed: r.failed.Load(), Errors: map[string]int64{},
		StartNs: start.UnixNano(), EndNs: end.UnixNano(), Seconds: end.Sub(start).Seconds(),
	}
	for k, v := range r.errors {
		res.Errors[k] = v
	}
	if res.Seconds > 0 {
		res.PerSecond = float64(res.Sent) / res.Seconds
	}
	res.Latency = summarise(r.lat[main])
	if len(r.lat) > 1 || main == "" {
		res.Ops = map[string]Latency{}
		for op, d := range r.lat {
			res.Ops[op] = summarise(d)
		}
	}
	return res
}

func summarise(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return Latency{Count: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// progress rewrites one status line on a terminal every interval until
// stop is closed; w is nil when the output is not a terminal.
func progress(w io.Writer, total int64, r *recorder, start time.Time, stop <-chan struct{}) {
	if w == nil {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
			ok, bad := r.ok.Load(), r.failed.Load()
			el := time.Since(start).Seconds()
			of := ""
			if total > 0 {
				of = "/" + strconv.FormatInt(total, 10)
			}
			fmt.Fprintf(w, "\r\033[K%d%s ok, %d failed, %.0f/s, %.1fs", ok, of, bad, float64(ok)/el, el)
		}
	}
}

// checkLoopback refuses any address that is not a loopback IP: the load
// tool is for one machine, never for someone else's server.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
	}
	return nil
}
