package main

import (
	"fmt"
	"io"
	"strings"
)

// Every subcommand answers -h and --help (anywhere among its arguments,
// before a "--") with its usage on stdout and exit status 0, before it
// looks at any other argument: "check-config -h" took -h for a file name
// and "queue -h" for a queue command.

const serveUsage = `usage: mailgate serve [-config FILE]

Runs the server. Without -config it runs the embedded default config
(print it with "mailgate default-config"): every listener on loopback high
ports, with a first account whose password is logged once at the first
start ("mailgate user passwd" sets a new one).
`

const checkConfigUsage = `usage: mailgate check-config FILE

Validates FILE without starting anything. Prints "FILE: OK" (exit 0), or
every problem as FILE:LINE: key: what to write instead (exit 1).
`

const dnsRecordsUsage = `usage: mailgate dns-records DOMAIN [-check] [-config FILE]

Prints the DNS records to publish for DOMAIN: MX, SPF, DKIM (for the keys
the config signs with), DMARC, SRV, autoconfig, autodiscover, MTA-STS, TLS
reporting and the TLSA record of the certificate. With -check, looks each one up (through
delivery.dns, else the system resolver) and prints ok, MISSING or DIFFERS;
exit 1 when any is not ok.
`

const defaultConfigUsage = `usage: mailgate default-config

Prints the embedded default config, the one "mailgate serve" runs without
-config: a starting point for your own file.
`

// commandUsages are the usage texts of the subcommands.
var commandUsages = map[string]string{
	"serve": serveUsage, "check-config": checkConfigUsage, "user": userUsage,
	"queue": queueUsage, "dkim": dkimUsage, "dns-records": dnsRecordsUsage,
	"default-config": defaultConfigUsage, "dmarc": dmarcUsage, "srs": srsUsage,
	"apikey": apikeyUsage, "suppression": suppressionUsage, "webhook": webhookUsage,
}

// asksHelp reports whether args hold -h, -help or --help before a "--".
func asksHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// help answers "mailgate CMD ... -h" with the command's usage text; false
// for an unknown CMD.
func help(cmd string, stdout io.Writer) bool {
	text, ok := commandUsages[cmd]
	if !ok {
		return false
	}
	fmt.Fprint(stdout, text)
	return true
}

// usageLine is the first line of a usage text, for a command used wrongly
// (the whole text is for -h).
func usageLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}
