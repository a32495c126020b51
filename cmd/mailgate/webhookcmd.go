package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"mailgate/accounts"
	"mailgate/webhook"
)

const webhookUsage = `usage:
  mailgate webhook add ACCOUNT URL [-config FILE] [--events delivered,deferred,bounced,delay_warning,suppressed]
  mailgate webhook list [-config FILE]
  mailgate webhook remove ID [-config FILE]
Each event of the account's mail is POSTed to URL as JSON, signed with the
secret add prints (header Mailgate-Signature, see docs/api.md), and retried
with backoff for 24 hours until URL answers 2xx. Default: every event.
The hooks are DATA_DIR/webhooks.json; a running server picks changes up.
`

func webhookCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, webhookUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	var pos []string
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	fs := flag.NewFlagSet("webhook "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	events := fs.String("events", strings.Join(webhook.Types(), ","), "comma-separated event types")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	want := map[string]int{"add": 2, "list": 0, "remove": 1}
	if n, ok := want[verb]; !ok || n != len(pos) {
		fmt.Fprint(stderr, webhookUsage)
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	hooks, err := webhook.OpenHooks(cfg.DataDir)
	if err == nil {
		err = webhookVerb(verb, pos, *events, cfg.DataDir, hooks, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	return 0
}

func webhookVerb(verb string, pos []string, events, dataDir string, hooks *webhook.Hooks, stdout io.Writer) error {
	switch verb {
	case "add":
		accts, err := accounts.OpenAccounts(dataDir)
		if err != nil {
			return err
		}
		if acc, ok := accts.Get(pos[0]); !ok || !strings.EqualFold(acc.Address, pos[0]) {
			return fmt.Errorf("no account %s (mailgate user list)", pos[0])
		}
		h, err := hooks.Add(pos[0], pos[1], strings.Split(events, ","))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n# webhook %s for %s: %s (%s); the line above is its signing secret\n", h.Secret, h.ID, h.Account, h.URL, strings.Join(h.Events, ","))
		return nil
	case "remove":
		if err := hooks.Remove(pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed webhook %s\n", pos[0])
		return nil
	}
	list, err := hooks.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tEVENTS\tURL")
	for _, h := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ID, h.Account, strings.Join(h.Events, ","), h.URL)
	}
	return tw.Flush()
}
