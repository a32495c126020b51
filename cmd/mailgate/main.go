// Command mailgate is the mail server: `serve` runs it, the other
// subcommands check its config and manage accounts, the queue and DKIM
// keys. This file only dispatches; wiring lives in serve.go.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"mailgate/config"
	"mailgate/filters"
)

const usage = `usage: mailgate COMMAND [flags]

commands:
  serve [-config FILE]          run the server (embedded default config without -config)
  check-config FILE             validate a config file; print every problem as FILE:LINE: key: message
  user add|del|list|passwd|update [-config FILE] ...
                                manage accounts (see mailgate user -h)
  apikey add|list|revoke [-config FILE] ...
                                manage HTTP API keys (see mailgate apikey -h)
  webhook add|list|remove [-config FILE] ...
                                delivery events of an account, signed, to its URLs
  suppression list|remove [-config FILE] ...
                                recipients that bounced hard, refused until removed
  queue list|show|flush|hold|release|delete|bounce [-config FILE] [--json]
                                inspect and steer the running server's queue
  dkim keygen DOMAIN [--selector S] [--algorithm ed25519|rsa] [--out DIR]
                                make a DKIM key and print the DNS record to publish
  dns-records DOMAIN [-check] [-config FILE]
                                print (or check) the DNS records to publish (MX, SPF, DKIM, DMARC, SRV,
                                autoconfig, autodiscover, MTA-STS, TLS-RPT, TLSA)
  dmarc report --domain D [--date YYYY-MM-DD] [-config FILE]
                                print the DMARC aggregate report for D's day
  srs rotate [-config FILE]     new SRS key for forwarded mail; the old ones still verify
  sieve check FILE | sieve test FILE MESSAGE [--from ADDR] [--to ADDR]
                                check a Sieve script; show the actions it takes on a message
  default-config                print the embedded default config
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if len(args) > 1 && asksHelp(args[1:]) && help(args[0], stdout) {
		return 0
	}
	switch args[0] {
	case "serve":
		return serveCommand(args[1:], stderr)
	case "check-config":
		return checkConfigCommand(args[1:], stdout, stderr)
	case "user":
		return userCommand(args[1:], stdin, stdout, stderr)
	case "dkim":
		return dkimCommand(args[1:], stdout, stderr)
	case "apikey":
		return apikeyCommand(args[1:], stdout, stderr)
	case "webhook":
		return webhookCommand(args[1:], stdout, stderr)
	case "suppression":
		return suppressionCommand(args[1:], stdout, stderr)
	case "queue":
		return queueCommand(args[1:], stdout, stderr)
	case "dns-records":
		return dnsRecordsCommand(args[1:], stdin, stdout, stderr)
	case "sieve":
		return sieveCommand(args[1:], stdout, stderr)
	case "dmarc":
		return dmarcCommand(args[1:], stdout, stderr)
	case "srs":
		return srsCommand(args[1:], stdout, stderr)
	case "default-config":
		stdout.Write(config.DefaultYAML())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	if cmd, ok := extraCommands[args[0]]; ok {
		return cmd(args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "mailgate: unknown command %q\n%s", args[0], usage)
	return 2
}

// extraCommands are subcommands registered by other files of this package
// (queue, dkim, dns-records), each owned by the issue that brings it.
var extraCommands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) int{}

// loadConfig reads -config FILE, or the embedded default without it.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	if path == "" {
		return config.Default(filters.Builtin()), true
	}
	c, err := config.Load(path, filters.Builtin())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	return c, true
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default: the embedded default config)")
}

func checkConfigCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, usageLine(checkConfigUsage))
		return 2
	}
	if _, err := config.Load(args[0], filters.Builtin()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", args[0])
	return 0
}
