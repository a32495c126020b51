// Package tlsrpt keeps the counts SMTP TLS Reporting (RFC 8460) asks a
// sender to report: per policy domain and day, the sessions that met the
// domain's MTA-STS or DANE policy and those that failed, with why. Once a
// day the previous day's counts become one JSON report per domain, sent
// to the addresses the domain publishes in _smtp._tls.
package tlsrpt

import (
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"mailgate/internal/daily"
)

// Limits that keep the recorder's memory and disk bounded whatever the
// traffic: a day keeps at most maxPolicies policies, each at most
// maxFailures distinct failure rows (further ones are still counted).
const (
	maxPolicies = 10000
	maxFailures = 100
)

// Outcome is one session (or policy lookup) to count.
type Outcome struct {
	PolicyDomain string
	PolicyType   string   // sts, tlsa, no-policy-found
	Policy       []string // policy-string
	MXHost       string
	ReceivingIP  string
	Result       string // "" for success, else an RFC 8460 result type
	Detail       string
}

// Policy is one policy's counts for a day.
type Policy struct {
	Domain   string    `json:"domain"`
	Type     string    `json:"type"`
	Strings  []string  `json:"strings,omitempty"`
	MXHosts  []string  `json:"mx_hosts,omitempty"`
	Success  int64     `json:"success"`
	Failure  int64     `json:"failure"`
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is a count of failed sessions alike in type, host and address.
type Failure struct {
	Result      string `json:"result"`
	MXHost      string `json:"mx_host,omitempty"`
	ReceivingIP string `json:"receiving_ip,omitempty"`
	Detail      string `json:"detail,omitempty"`
	Count       int64  `json:"count"`
}

// day is one UTC day's policies, by key.
type day map[string]*Policy

// Recorder counts outcomes in memory and writes them under Dir when
// Flush runs (every minute from the daemon, and at shutdown). A crash
// loses at most the counts since the last flush: reports are statistics,
// not mail.
type Recorder struct {
	Dir string
	Now func() time.Time

	mu      sync.Mutex
	days    map[string]day // by "2006-01-02"
	dirty   map[string]bool
	dropped int64
}

// Record counts one outcome under today's date.
func (r *Recorder) Record(o Outcome) {
	if o.PolicyDomain == "" {
		return
	}
	date := daily.Today(r.now())
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dayLocked(date)
	key := o.PolicyDomain + "\x00" + o.PolicyType + "\x00" + strings.Join(o.Policy, "\n")
	p := d[key]
	if p == nil {
		if len(d) >= maxPolicies {
			r.dropped++
			return
		}
		p = &Policy{Domain: o.PolicyDomain, Type: o.PolicyType, Strings: o.Policy}
		d[key] = p
	}
	p.count(o)
	r.dirty[date] = true
}

func (p *Policy) count(o Outcome) {
	if o.MXHost != "" && !contains(p.MXHosts, o.MXHost) && len(p.MXHosts) < maxFailures {
		p.MXHosts = append(p.MXHosts, o.MXHost)
	}
	if o.Result == "" {
		p.Success++
		return
	}
	p.Failure++
	for i := range p.Failures {
		f := &p.Failures[i]
		if f.Result == o.Result && f.MXHost == o.MXHost && f.ReceivingIP == o.ReceivingIP {
			f.Count++
			return
		}
	}
	if len(p.Failures) < maxFailures {
		p.Failures = append(p.Failures, Failure{o.Result, o.MXHost, o.ReceivingIP, truncate(o.Detail, 300), 1})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// dayLocked returns a day's counts, loading what an earlier run wrote.
func (r *Recorder) dayLocked(date string) day {
	if r.days == nil {
		r.days, r.dirty = map[string]day{}, map[string]bool{}
	}
	if d, ok := r.days[date]; ok {
		return d
	}
	d := r.load(date)
	r.days[date] = d
	return d
}

func (r *Recorder) load(date string) day {
	d := day{}
	var list []*Policy
	if r.Dir == "" || !daily.Dir(r.Dir).Load(date, &list) {
		return d
	}
	for _, p := range list {
		d[p.Domain+"\x00"+p.Type+"\x00"+strings.Join(p.Strings, "\n")] = p
	}
	return d
}

// Flush writes every day changed since the last flush, and forgets days
// before yesterday from memory.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Dir == "" {
		return nil
	}
	var errs []error
	for date := range r.dirty {
		if err := daily.Dir(r.Dir).Save(date, sorted(r.days[date])); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(r.dirty, date)
	}
	yesterday := daily.Yesterday(r.now())
	for date := range r.days {
		if date < yesterday && !r.dirty[date] {
			delete(r.days, date)
		}
	}
	return errors.Join(errs...)
}

// Day returns the policies counted on date (YYYY-MM-DD), from memory or
// disk, sorted by domain.
func (r *Recorder) Day(date string) []*Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.days[date]; ok {
		return sorted(d)
	}
	return sorted(r.load(date))
}

func sorted(d day) []*Policy {
	out := make([]*Policy, 0, len(d))
	for _, p := range d {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		return out[i].Type < out[j].Type
	})
	return out
}
