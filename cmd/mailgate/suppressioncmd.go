package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"mailgate/cluster"
	"mailgate/suppression"
)

const suppressionUsage = `usage:
  mailgate suppression list [ACCOUNT] [-config FILE]
  mailgate suppression remove ACCOUNT ADDRESS [-config FILE]
A recipient that bounced hard (5xx to RCPT, or status 5.1.1) is suppressed
for the account that sent to it: later mail from that account to it is
refused at once (SMTP 550 5.1.1, HTTP API 422). remove lifts it; a running
server picks the change up. The list is DATA_DIR/suppressions.json, and
with cluster.redis also in Redis, shared by every node.
`

func suppressionCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, suppressionUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	var pos []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	fs := flag.NewFlagSet("suppression "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if verb == "list" && len(pos) > 1 || verb == "remove" && len(pos) != 2 || verb != "list" && verb != "remove" {
		fmt.Fprint(stderr, suppressionUsage)
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	list, err := suppression.Open(cfg.DataDir)
	if err == nil && cfg.Cluster.Redis != nil {
		var r *cluster.Redis
		if r, err = cluster.OpenRedis(*cfg.Cluster.Redis, slog.New(slog.DiscardHandler), nil); err == nil {
			defer r.Close()
			list.Share(cluster.NewSuppressions(r))
		}
	}
	if err == nil && verb == "remove" {
		if err = list.Remove(pos[0], pos[1]); err == nil {
			fmt.Fprintf(stdout, "%s may be mailed by %s again\n", pos[1], pos[0])
		}
	} else if err == nil {
		err = printSuppressions(list, append(pos, "")[0], stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	return 0
}

func printSuppressions(list *suppression.List, account string, stdout io.Writer) error {
	entries, err := list.Entries(account)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tADDRESS\tSINCE\tQUEUE ID\tREASON")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Account, e.Address, e.Time.Format("2006-01-02 15:04"), e.QueueID, e.Reason)
	}
	return tw.Flush()
}
