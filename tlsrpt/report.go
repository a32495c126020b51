package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Report is the JSON report of RFC 8460 §4.
type Report struct {
	Organization string         `json:"organization-name"`
	DateRange    DateRange      `json:"date-range"`
	Contact      string         `json:"contact-info"`
	ReportID     string         `json:"report-id"`
	Policies     []PolicyReport `json:"policies"`
}

// DateRange is the day a report covers.
type DateRange struct {
	Start string `json:"start-datetime"`
	End   string `json:"end-datetime"`
}

// PolicyReport is one policy's part of a report.
type PolicyReport struct {
	Policy   PolicyDesc      `json:"policy"`
	Summary  Summary         `json:"summary"`
	Failures []FailureDetail `json:"failure-details,omitempty"`
}

// PolicyDesc names the policy the counts are for.
type PolicyDesc struct {
	Type    string   `json:"policy-type"`
	Strings []string `json:"policy-string,omitempty"`
	Domain  string   `json:"policy-domain"`
	MXHosts []string `json:"mx-host,omitempty"`
}

// Summary counts sessions.
type Summary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

// FailureDetail is one kind of failure and how often it happened.
type FailureDetail struct {
	Result      string `json:"result-type"`
	SendingIP   string `json:"sending-mta-ip,omitempty"`
	MXHost      string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP string `json:"receiving-ip,omitempty"`
	Count       int64  `json:"failed-session-count"`
	Reason      string `json:"failure-reason-code,omitempty"`
}

// Build makes the report of one policy domain for one day from the
// recorder's policies of that day (those of other domains are skipped).
func Build(org, contact, domain, date string, policies []*Policy) (*Report, error) {
	start, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return nil, fmt.Errorf("date %q is not YYYY-MM-DD", date)
	}
	rep := &Report{
		Organization: org,
		DateRange: DateRange{
			Start: start.UTC().Format(time.RFC3339),
			End:   start.Add(24*time.Hour - time.Second).UTC().Format(time.RFC3339),
		},
		Contact:  contact,
		ReportID: date + "_" + domain,
	}
	for _, p := range policies {
		if !strings.EqualFold(p.Domain, domain) {
			continue
		}
		pr := PolicyReport{
			Policy:  PolicyDesc{Type: p.Type, Strings: p.Strings, Domain: p.Domain, MXHosts: p.MXHosts},
			Summary: Summary{Success: p.Success, Failure: p.Failure},
		}
		for _, f := range p.Failures {
			pr.Failures = append(pr.Failures, FailureDetail{Result: f.Result, MXHost: f.MXHost, ReceivingIP: f.ReceivingIP, Count: f.Count, Reason: f.Detail})
		}
		rep.Policies = append(rep.Policies, pr)
	}
	if len(rep.Policies) == 0 {
		return nil, fmt.Errorf("no sessions with %s on %s", domain, date)
	}
	return rep, nil
}

// JSON returns the report gzipped, as RFC 8460 §5.3 sends it.
func (r *Report) Gzip() ([]byte, error) {
	body, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ErrNoRecord means the domain asks for no TLS reports.
var ErrNoRecord = errors.New("no v=TLSRPTv1 record")

// ParseTXT reads the destinations from the TXT strings of
// _smtp._tls.DOMAIN (RFC 8460 §3): mailto: and https: URIs in rua.
func ParseTXT(records []string) ([]*url.URL, error) {
	var found []string
	for _, r := range records {
		if strings.HasPrefix(r, "v=TLSRPTv1;") || r == "v=TLSRPTv1" {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
	default:
		return nil, fmt.Errorf("%d v=TLSRPTv1 records; RFC 8460 §3 allows one", len(found))
	}
	for _, f := range strings.Split(found[0], ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "rua" {
			return parseRUA(v)
		}
	}
	return nil, errors.New("the v=TLSRPTv1 record has no rua")
}

func parseRUA(v string) ([]*url.URL, error) {
	var out []*url.URL
	for _, s := range strings.Split(v, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		switch {
		case u.Scheme == "mailto" && strings.Contains(u.Opaque, "@"):
			out = append(out, u)
		case u.Scheme == "https" && u.Host != "":
			out = append(out, u)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rua %q holds no mailto: or https: address", v)
	}
	return out, nil
}
