package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"mailgate/filters"
)

const dkimUsage = `usage: mailgate dkim keygen DOMAIN [--selector S] [--algorithm rsa|ed25519] [--out DIR]

Writes a new DKIM signing key to DIR/DOMAIN.SELECTOR.pem (mode 0600) and
prints the DNS TXT record to publish and the config lines that use it.
`

// dkimCommand runs `mailgate dkim keygen`.
func dkimCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, dkimUsage) }
	selector := fs.String("selector", "mg"+time.Now().UTC().Format("200601"), "DNS selector of the key")
	algorithm := fs.String("algorithm", "rsa", "rsa (2048 bits) or ed25519 (RFC 8463)")
	out := fs.String("out", ".", "directory to write the key to")
	// DOMAIN may come before or after the flags.
	rest := args[1:]
	var domain string
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		if domain != "" {
			fmt.Fprintf(stderr, "mailgate dkim keygen: unexpected argument %q\n%s", rest[0], dkimUsage)
			return 2
		}
		domain, rest = rest[0], rest[1:]
	}
	if domain == "" {
		fmt.Fprint(stderr, dkimUsage)
		return 2
	}
	path, zone, err := filters.WriteDKIMKey(*out, domain, *selector, *algorithm)
	if err != nil {
		fmt.Fprintf(stderr, "mailgate dkim keygen: %v\n", err)
		return 1
	}
	label := map[string]string{"rsa": "RSA 2048 bits", "ed25519": "Ed25519"}[*algorithm]
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fmt.Fprintf(stdout, "Wrote %s (%s, mode 0600).\n\nPublish this DNS TXT record:\n\n%s\n\n", path, label, zone)
	fmt.Fprintf(stdout, "Then sign with it (config):\n\nfilters:\n  dkim_sign:\n    keys:\n      - domain: %s\n        selector: %s\n        file: %s\n", domain, *selector, path)
	return 0
}
