package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"mailgate/dmarcrpt"
	"mailgate/filters"
	"mailgate/internal/daily"
	"mailgate/tlsrpt"
)

// reports holds the TLS-RPT and DMARC recorders; startReports builds
// them between the queue (whose router records TLS outcomes) and the
// relay (whose dmarc filter records evaluations).
type reports struct {
	tls   *tlsrpt.Recorder
	dmarc *dmarcrpt.Recorder
}

func reportDirs(dataDir string) (tlsDir, dmarcDir string) {
	return filepath.Join(dataDir, "reports", "tls"), filepath.Join(dataDir, "reports", "dmarc")
}

// startReports keeps the counts on disk each minute and, with
// reports.send, sends the finished days' reports through the queue,
// DKIM-signed, as RFC 8460 §5.3 requires.
func (a *app) startReports(bool) error {
	tlsDir, dmarcDir := reportDirs(a.cfg.DataDir)
	a.reports = reports{tls: &tlsrpt.Recorder{Dir: tlsDir}, dmarc: &dmarcrpt.Recorder{Dir: dmarcDir}}
	a.router.SetTLSReporter(a.reports.tls)
	signer, err := filters.NewDKIMSigner(a.cfg, filters.Deps{Logger: a.log})
	if err != nil {
		return err
	}
	q := sieveQueue{app: a, signer: signer, listener: "reports"}
	submit := func(ctx context.Context, from string, to []string, msg []byte) error {
		return q.Submit(ctx, from, to, msg, true)
	}
	c := a.cfg
	rep := daily.Reporter{LookupTXT: a.resolver.LookupTXT, Submit: submit, Org: c.ReportOrganization(),
		Contact: c.ReportContact(), Submitter: c.Hostname, Logger: a.log, Send: c.Reports.Send}
	ts := &tlsrpt.Sender{Reporter: rep, Recorder: a.reports.tls}
	ds := &dmarcrpt.Sender{Reporter: rep, Recorder: a.reports.dmarc}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ts.Run(ctx) }()
	go func() { defer wg.Done(); ds.Run(ctx) }()
	a.stops = append(a.stops, func(context.Context) { cancel(); wg.Wait() })
	if a.http != nil {
		a.http.Handle("/.well-known/mta-sts.txt", mtaSTSHandler{a})
	}
	return nil
}

// mtaSTSHandler serves our MTA-STS policy (RFC 8461 §3.3) to requests
// for mta-sts.DOMAIN of a local domain, when mta_sts.mode is set. It
// reads the live config, so a reload changes the policy served.
type mtaSTSHandler struct{ a *app }

func (h mtaSTSHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := h.a.live.Load()
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
	}
	domain, ok := strings.CutPrefix(strings.ToLower(host), "mta-sts.")
	if c.MTASTS.Mode == "" || !ok || !isLocalDomain(c, domain) || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, mtaSTSPolicy(c.MTASTS.Mode, c.MTASTS.PolicyMX(c.Hostname), int64(c.MTASTS.MaxAge.D().Seconds())))
}

// mtaSTSPolicy writes the policy body (RFC 8461 §3.2), CRLF-ended.
func mtaSTSPolicy(mode string, mx []string, maxAge int64) string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + mode + "\r\n")
	for _, m := range mx {
		b.WriteString("mx: " + m + "\r\n")
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", maxAge)
	return b.String()
}
