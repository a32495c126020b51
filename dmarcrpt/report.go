package dmarcrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Feedback is the aggregate report of RFC 7489 Appendix C.
type Feedback struct {
	XMLName   xml.Name        `xml:"feedback"`
	Version   string          `xml:"version"`
	Metadata  Metadata        `xml:"report_metadata"`
	Published PolicyPublished `xml:"policy_published"`
	Records   []Record        `xml:"record"`
}

// Metadata says who reports, and for when.
type Metadata struct {
	OrgName   string    `xml:"org_name"`
	Email     string    `xml:"email"`
	ReportID  string    `xml:"report_id"`
	DateRange DateRange `xml:"date_range"`
}

// DateRange is in seconds since the epoch.
type DateRange struct {
	Begin int64 `xml:"begin"`
	End   int64 `xml:"end"`
}

// PolicyPublished is the record the evaluations used.
type PolicyPublished struct {
	Domain string `xml:"domain"`
	ADKIM  string `xml:"adkim"`
	ASPF   string `xml:"aspf"`
	P      string `xml:"p"`
	SP     string `xml:"sp"`
	Pct    int    `xml:"pct"`
	FO     string `xml:"fo"` // required by RFC 7489 Appendix C
}

// Record is one row: a source, its count and its results.
type Record struct {
	Row struct {
		SourceIP string `xml:"source_ip"`
		Count    int64  `xml:"count"`
		Policy   struct {
			Disposition string `xml:"disposition"`
			DKIM        string `xml:"dkim"`
			SPF         string `xml:"spf"`
		} `xml:"policy_evaluated"`
	} `xml:"row"`
	Identifiers struct {
		// EnvelopeFrom is required by RFC 7489 Appendix C; it is empty
		// for a null reverse-path.
		EnvelopeFrom string `xml:"envelope_from"`
		HeaderFrom   string `xml:"header_from"`
	} `xml:"identifiers"`
	Auth struct {
		DKIM []DKIMAuth `xml:"dkim"`
		SPF  []SPFAuth  `xml:"spf"`
	} `xml:"auth_results"`
}

// Build makes the report of one domain's day.
func Build(org, email, submitter, date string, dom *Domain) (*Feedback, error) {
	start, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return nil, fmt.Errorf("date %q is not YYYY-MM-DD", date)
	}
	pub := dom.Published
	f := &Feedback{
		Version: "1.0",
		Metadata: Metadata{
			OrgName: org, Email: email,
			ReportID:  fmt.Sprintf("%s.%s@%s", date, pub.Domain, submitter),
			DateRange: DateRange{Begin: start.Unix(), End: start.Add(24*time.Hour).Unix() - 1},
		},
		Published: PolicyPublished{Domain: pub.Domain, ADKIM: or(pub.ADKIM, "r"), ASPF: or(pub.ASPF, "r"), P: pub.P, SP: or(pub.SP, pub.P), Pct: pub.Pct, FO: or(pub.FO, "0")},
	}
	for _, row := range dom.Rows {
		var rec Record
		rec.Row.SourceIP, rec.Row.Count = fullIP(row.SourceIP), row.Count
		rec.Row.Policy.Disposition, rec.Row.Policy.DKIM, rec.Row.Policy.SPF = row.Disposition, row.DKIM, row.SPF
		rec.Identifiers.EnvelopeFrom, rec.Identifiers.HeaderFrom = row.EnvelopeFrom, row.HeaderFrom
		rec.Auth.DKIM = row.DKIMAuth
		// The schema wants one spf result at least (RFC 7489 Appendix C).
		spf := row.SPFAuth
		spf.Result, spf.Scope = or(spf.Result, "none"), or(spf.Scope, "mfrom")
		rec.Auth.SPF = []SPFAuth{spf}
		f.Records = append(f.Records, rec)
	}
	return f, nil
}

// fullIP writes an IPv6 address in its eight groups: RFC 7489 Appendix
// C's IPAddress pattern does not accept the "::" shorthand.
func fullIP(s string) string {
	ip, err := netip.ParseAddr(s)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return s
	}
	b := ip.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(groups, ":")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// XML renders the report with its declaration.
func (f *Feedback) XML() ([]byte, error) {
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// Gzip is XML, compressed as reports travel (RFC 7489 §7.2.1.1).
func (f *Feedback) Gzip() ([]byte, error) {
	x, err := f.XML()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(x)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
