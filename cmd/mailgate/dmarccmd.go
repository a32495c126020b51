package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"mailgate/dmarcrpt"
	"mailgate/internal/daily"
	"mailgate/resolver"
)

const dmarcUsage = `usage: mailgate dmarc report --domain DOMAIN [--date YYYY-MM-DD] [-config FILE]

Prints the DMARC aggregate report (RFC 7489 §7.2, XML) that mailgate sends,
or would send with reports.send, to DOMAIN's rua= addresses for one UTC day
(default: yesterday), and on stderr the addresses it goes to.
`

// dmarcCommand is `mailgate dmarc report`.
func dmarcCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "report" {
		fmt.Fprint(stderr, dmarcUsage)
		return 2
	}
	fs := flag.NewFlagSet("dmarc report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	domain := fs.String("domain", "", "the policy domain the report is about")
	date := fs.String("date", time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), "the UTC day, YYYY-MM-DD")
	if err := fs.Parse(args[1:]); err != nil || *domain == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usageLine(dmarcUsage))
		return 2
	}
	if _, err := time.Parse(time.DateOnly, *date); err != nil {
		fmt.Fprintf(stderr, "mailgate dmarc report: --date %q is not YYYY-MM-DD\n", *date)
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	_, dir := reportDirs(cfg.DataDir)
	name := strings.ToLower(strings.TrimSuffix(*domain, "."))
	dom := (&dmarcrpt.Recorder{Dir: dir}).Day(*date)[name]
	if dom == nil {
		fmt.Fprintf(stderr, "mailgate dmarc report: no DMARC evaluations for %s on %s (counts reach disk each minute)\n", name, *date)
		return 1
	}
	f, err := dmarcrpt.Build(cfg.ReportOrganization(), cfg.ReportContact(), cfg.Hostname, *date, dom)
	if err == nil {
		var x []byte
		if x, err = f.XML(); err == nil {
			stdout.Write(x)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate dmarc report:", err)
		return 1
	}
	s := &dmarcrpt.Sender{Reporter: daily.Reporter{LookupTXT: resolver.New(cfg.Delivery.DNS).LookupTXT}}
	to := s.Destinations(context.Background(), dom.Published)
	fmt.Fprintf(stderr, "to: %s (rua=%s)\n", orNone(strings.Join(to, ", ")), strings.Join(dom.Published.RUA, ","))
	return 0
}

func orNone(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
