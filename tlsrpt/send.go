package tlsrpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"mailgate/internal/daily"
	"mailgate/internal/reportmail"
)

// Sender sends each day's reports once, the day after.
type Sender struct {
	daily.Reporter
	Recorder *Recorder
	HTTP     *http.Client // for https: destinations
}

// SendDay sends the reports of date to every domain that asks for them
// and was not yet sent one. It goes on past a domain's failure.
func (s *Sender) SendDay(ctx context.Context, date string) error {
	done := daily.Dir(s.Recorder.Dir).Sent(date)
	var errs []error
	for _, d := range domains(s.Recorder.Day(date)) {
		if done[d] {
			continue
		}
		err := s.sendDomain(ctx, date, d)
		if errors.Is(err, ErrNoRecord) {
			err = nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d, err))
			continue // tried again at the next run
		}
		s.markSent(date, d)
	}
	return errors.Join(errs...)
}

func domains(ps []*Policy) []string {
	var out []string
	for _, p := range ps {
		if len(out) == 0 || out[len(out)-1] != p.Domain {
			out = append(out, p.Domain)
		}
	}
	return out
}

func (s *Sender) sendDomain(ctx context.Context, date, domain string) error {
	txt, err := s.LookupTXT(ctx, "_smtp._tls."+domain)
	if err != nil {
		return ErrNoRecord
	}
	dests, err := ParseTXT(txt)
	if err != nil {
		return err
	}
	rep, err := Build(s.Org, s.Contact, domain, date, s.Recorder.Day(date))
	if err != nil {
		return err
	}
	gz, err := rep.Gzip()
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range dests {
		if u.Scheme == "https" {
			errs = append(errs, s.post(ctx, u, gz))
			continue
		}
		errs = append(errs, s.Submit(ctx, s.Contact, []string{u.Opaque}, s.message(rep, domain, u.Opaque, gz)))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.Log().Info("TLS report sent", "domain", domain, "date", date, "to", len(dests))
	return nil
}

// message is the mail of RFC 8460 §5.3.
func (s *Sender) message(rep *Report, domain, to string, gz []byte) []byte {
	start, _ := time.Parse(time.RFC3339, rep.DateRange.Start)
	end, _ := time.Parse(time.RFC3339, rep.DateRange.End)
	m := &reportmail.Message{
		From:    s.Contact,
		To:      to,
		Subject: fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s@%s>", domain, s.Submitter, rep.ReportID, s.Submitter),
		Headers: [][2]string{
			{"TLS-Report-Domain", domain},
			{"TLS-Report-Submitter", s.Submitter},
		},
		ReportType: "tlsrpt",
		Text:       fmt.Sprintf("This is an aggregate TLS report (RFC 8460) from %s for %s, %s.\n", s.Submitter, domain, rep.DateRange.Start[:10]),
		FileName:   fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", s.Submitter, domain, start.Unix(), end.Unix(), strings.ReplaceAll(rep.ReportID, "_", "-")),
		MediaType:  "application/tlsrpt+gzip",
		Data:       gz,
		Hostname:   s.Submitter,
		Date:       s.Clock(),
	}
	return m.Bytes()
}

func (s *Sender) post(ctx context.Context, u *url.URL, gz []byte) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	c := s.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", u.Host, resp.Status)
	}
	return nil
}

// Run keeps the counts on disk and, when sending is on, sends each
// finished day's reports, until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	s.RunJob(ctx, "TLS", s.Recorder.Flush, s.SendDay)
}

// markSent remembers a sent report so a restart does not send it again.
func (s *Sender) markSent(date, domain string) {
	if err := daily.Dir(s.Recorder.Dir).MarkSent(date, domain); err != nil {
		s.Log().Warn("cannot record a sent TLS report", "error", err)
	}
}
