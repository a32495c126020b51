package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"mailgate/accounts"
	"mailgate/api"
)

const apikeyUsage = `usage:
  mailgate apikey add ACCOUNT [-config FILE] [--name NAME] [--scope send,read]
  mailgate apikey list [-config FILE]
  mailgate apikey revoke ID [-config FILE]
A key is shown once, when it is made; only its SHA-256 is kept, in
DATA_DIR/apikeys.json. Use it as "Authorization: Bearer KEY" on the HTTP API
(docs/api.md), or as the SMTP AUTH password of ACCOUNT. Scopes: send (send
mail, over HTTP and SMTP) and read (message status). Default: send,read.
A running server picks changes up at once.
`

func apikeyCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, apikeyUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	var arg string
	if verb != "list" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprint(stderr, apikeyUsage)
			return 2
		}
		arg, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("apikey "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "what the key is for, shown by list")
	scope := fs.String("scope", "send,read", "comma-separated scopes: send, read")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	keys, err := api.OpenKeys(cfg.DataDir)
	if err == nil {
		err = apikeyVerb(verb, arg, *name, *scope, cfg.DataDir, keys, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprint(stderr, apikeyUsage)
			return 2
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("unknown apikey command")

func apikeyVerb(verb, arg, name, scope, dataDir string, keys *api.Keys, stdout io.Writer) error {
	switch verb {
	case "add":
		return apikeyAdd(arg, name, scope, dataDir, keys, stdout)
	case "list":
		list, err := keys.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tSCOPES\tCREATED\tNAME")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Account, strings.Join(k.Scopes, ","), k.Created.Format("2006-01-02 15:04"), k.Name)
		}
		return tw.Flush()
	case "revoke":
		if err := keys.Revoke(arg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked API key %s\n", arg)
		return nil
	}
	return errUsage
}

func apikeyAdd(account, name, scope, dataDir string, keys *api.Keys, stdout io.Writer) error {
	accts, err := accounts.OpenAccounts(dataDir)
	if err != nil {
		return err
	}
	acc, ok := accts.Get(account)
	if !ok || !strings.EqualFold(acc.Address, account) {
		return fmt.Errorf("no account %s (mailgate user list); a key belongs to an account, not to an alias", account)
	}
	var scopes []string
	for _, s := range strings.Split(scope, ",") {
		s = strings.TrimSpace(s)
		if s != api.ScopeSend && s != api.ScopeRead {
			return fmt.Errorf("--scope: %q is not a scope; write send, read or send,read", s)
		}
		scopes = append(scopes, s)
	}
	key, secret, err := keys.Add(acc.Address, name, scopes)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", secret)
	fmt.Fprintf(stdout, "# API key %s for %s (scopes %s); shown this once, keep it secret\n", key.ID, key.Account, strings.Join(scopes, ","))
	return nil
}
