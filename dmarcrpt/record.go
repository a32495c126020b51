// Package dmarcrpt keeps what DMARC aggregate reports (RFC 7489 §7.2)
// carry: each evaluation of incoming mail, grouped by the domain whose
// policy applied, its source address and its results, per UTC day; and
// once a day it sends each domain that asks for reports (rua=) an XML
// report of the previous day.
package dmarcrpt

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"mailgate/internal/daily"
)

// Bounds on one day's memory and disk whatever the traffic.
const (
	maxDomains = 10000
	maxRows    = 1000 // per domain; more distinct rows are not kept
)

// Published is the policy record as found (RFC 7489 Appendix C
// PolicyPublishedType), with where reports go.
type Published struct {
	Domain string   `json:"domain"`
	ADKIM  string   `json:"adkim"` // r or s
	ASPF   string   `json:"aspf"`
	P      string   `json:"p"`
	SP     string   `json:"sp"`
	Pct    int      `json:"pct"`
	FO     string   `json:"fo,omitempty"` // failure reporting options, "0" when absent
	RUA    []string `json:"rua,omitempty"`
}

// DKIMAuth is one DKIM signature's result.
type DKIMAuth struct {
	Domain   string `json:"domain" xml:"domain"`
	Selector string `json:"selector,omitempty" xml:"selector,omitempty"`
	Result   string `json:"result" xml:"result"`
}

// SPFAuth is the SPF result.
type SPFAuth struct {
	Domain string `json:"domain" xml:"domain"`
	Scope  string `json:"scope" xml:"scope"` // mfrom or helo
	Result string `json:"result" xml:"result"`
}

// Evaluation is one message's DMARC evaluation.
type Evaluation struct {
	SourceIP     string     `json:"source_ip"`
	HeaderFrom   string     `json:"header_from"`
	EnvelopeFrom string     `json:"envelope_from,omitempty"`
	Disposition  string     `json:"disposition"` // none, quarantine, reject
	DKIM         string     `json:"dkim"`        // aligned result: pass or fail
	SPF          string     `json:"spf"`
	DKIMAuth     []DKIMAuth `json:"dkim_auth,omitempty"`
	SPFAuth      SPFAuth    `json:"spf_auth"`
}

// Row is an evaluation and how many messages had it.
type Row struct {
	Evaluation
	Count int64 `json:"count"`
}

// Domain is one policy domain's day.
type Domain struct {
	Published Published `json:"published"`
	Rows      []*Row    `json:"rows"`
	Dropped   int64     `json:"dropped,omitempty"` // messages in rows over maxRows
}

// Recorder counts evaluations per day, in memory, and writes them under
// Dir when Flush runs (each minute and at shutdown).
type Recorder struct {
	Dir string
	Now func() time.Time

	mu    sync.Mutex
	days  map[string]map[string]*Domain
	dirty map[string]bool
}

// Record counts one evaluation under the policy that applied.
func (r *Recorder) Record(pub Published, e Evaluation) {
	date := daily.Today(r.now())
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dayLocked(date)
	key := strings.ToLower(pub.Domain)
	dom := d[key]
	if dom == nil {
		if len(d) >= maxDomains {
			return
		}
		dom = &Domain{}
		d[key] = dom
	}
	dom.Published = pub // the latest record seen that day
	r.dirty[date] = true
	for _, row := range dom.Rows {
		if same(row.Evaluation, e) {
			row.Count++
			return
		}
	}
	if len(dom.Rows) >= maxRows {
		dom.Dropped++
		return
	}
	dom.Rows = append(dom.Rows, &Row{Evaluation: e, Count: 1})
}

func same(a, b Evaluation) bool {
	if a.SourceIP != b.SourceIP || a.HeaderFrom != b.HeaderFrom || a.EnvelopeFrom != b.EnvelopeFrom ||
		a.Disposition != b.Disposition || a.DKIM != b.DKIM || a.SPF != b.SPF || a.SPFAuth != b.SPFAuth ||
		len(a.DKIMAuth) != len(b.DKIMAuth) {
		return false
	}
	for i := range a.DKIMAuth {
		if a.DKIMAuth[i] != b.DKIMAuth[i] {
			return false
		}
	}
	return true
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Recorder) dayLocked(date string) map[string]*Domain {
	if r.days == nil {
		r.days, r.dirty = map[string]map[string]*Domain{}, map[string]bool{}
	}
	if d, ok := r.days[date]; ok {
		return d
	}
	d := map[string]*Domain{}
	if r.Dir != "" {
		daily.Dir(r.Dir).Load(date, &d)
	}
	r.days[date] = d
	return d
}

// Flush writes the days changed since the last flush and forgets older
// days from memory.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Dir == "" {
		return nil
	}
	for date := range r.dirty {
		if err := daily.Dir(r.Dir).Save(date, r.days[date]); err != nil {
			return err
		}
		delete(r.dirty, date)
	}
	yesterday := daily.Yesterday(r.now())
	for date := range r.days {
		if date < yesterday {
			delete(r.days, date)
		}
	}
	return nil
}

// Day returns a copy of the domains evaluated on date, by name.
func (r *Recorder) Day(date string) map[string]*Domain {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := map[string]*Domain{}
	if mem, ok := r.days[date]; ok {
		b, _ := json.Marshal(mem)
		json.Unmarshal(b, &d)
		return d
	}
	if r.Dir != "" {
		daily.Dir(r.Dir).Load(date, &d)
	}
	return d
}

// Names lists a day's domains in order.
func Names(d map[string]*Domain) []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
