package dmarcrpt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"

	"mailgate/internal/daily"
	"mailgate/internal/reportmail"
)

// Sender sends each day's reports once, the day after.
type Sender struct {
	daily.Reporter
	Recorder *Recorder
}

// Destinations returns the mailto: addresses of a domain's rua= that
// accept its reports: those in another organizational domain must say so
// in DNS (RFC 7489 §7.1). A lookup that fails leaves that address out.
func (s *Sender) Destinations(ctx context.Context, pub Published) []string {
	var out []string
	for _, raw := range pub.RUA {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Scheme != "mailto" {
			continue
		}
		addr, _, _ := strings.Cut(u.Opaque, "!") // drop a size limit such as !10m
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 {
			continue
		}
		if s.external(ctx, pub.Domain, addr[at+1:]) {
			out = append(out, addr)
		}
	}
	return out
}

// external tells whether dest may receive reports about domain: same
// organizational domain, or a v=DMARC1 record at
// DOMAIN._report._dmarc.DEST.
func (s *Sender) external(ctx context.Context, domain, dest string) bool {
	if orgDomain(domain) == orgDomain(dest) {
		return true
	}
	txts, err := s.LookupTXT(ctx, domain+"._report._dmarc."+dest)
	if err != nil {
		return false
	}
	for _, t := range txts {
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			return true
		}
	}
	return false
}

func orgDomain(d string) string {
	d = strings.ToLower(strings.TrimSuffix(d, "."))
	if org, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return org
	}
	return d
}

// SendDay sends date's report to every domain that asks for one and was
// not yet sent it.
func (s *Sender) SendDay(ctx context.Context, date string) error {
	dir := daily.Dir(s.Recorder.Dir)
	done := dir.Sent(date)
	day := s.Recorder.Day(date)
	var errs []error
	for _, name := range Names(day) {
		if done[name] {
			continue
		}
		to := s.Destinations(ctx, day[name].Published)
		if len(to) == 0 {
			continue
		}
		if err := s.sendDomain(ctx, date, day[name], to); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if err := dir.MarkSent(date, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sender) sendDomain(ctx context.Context, date string, dom *Domain, to []string) error {
	f, err := Build(s.Org, s.Contact, s.Submitter, date, dom)
	if err != nil {
		return err
	}
	gz, err := f.Gzip()
	if err != nil {
		return err
	}
	m := &reportmail.Message{
		From:    s.Contact,
		To:      strings.Join(to, ", "),
		Subject: fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", dom.Published.Domain, s.Org, f.Metadata.ReportID),
		Text:    fmt.Sprintf("This is a DMARC aggregate report (RFC 7489) from %s for %s, %s.\n", s.Submitter, dom.Published.Domain, date),
		// RFC 7489 §7.2.1.1: receiver "!" policy domain "!" begin "!" end.
		FileName:  fmt.Sprintf("%s!%s!%d!%d.xml.gz", s.Submitter, dom.Published.Domain, f.Metadata.DateRange.Begin, f.Metadata.DateRange.End),
		MediaType: "application/gzip",
		Data:      gz,
		Hostname:  s.Submitter,
		Date:      s.Clock(),
	}
	if err := s.Submit(ctx, s.Contact, to, m.Bytes()); err != nil {
		return err
	}
	s.Log().Info("DMARC report sent", "domain", dom.Published.Domain, "date", date, "to", strings.Join(to, ","))
	return nil
}

// Run keeps the counts on disk and, when sending is on, sends each
// finished day's reports, until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	s.RunJob(ctx, "DMARC", s.Recorder.Flush, s.SendDay)
}
