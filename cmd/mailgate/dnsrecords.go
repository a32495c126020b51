package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"mailgate/config"
	"mailgate/filters"
	"mailgate/web"
)

// service is one client-facing listener: its RFC 6186 / RFC 8314 SRV
// name, the autoconfig type and socket, and its port.
type service struct {
	srv, kind, socket string
	port              int
}

// srvOrder lists every service RFC 6186 and RFC 8314 name, in the order
// printed and offered to clients (implicit TLS first).
var srvOrder = []struct{ proto, srv, kind, socket string }{
	{config.ProtoSubmissions, "_submissions", "smtp", "SSL"},
	{config.ProtoSubmission, "_submission", "smtp", "STARTTLS"},
	{config.ProtoIMAPS, "_imaps", "imap", "SSL"},
	{config.ProtoIMAP, "_imap", "imap", "STARTTLS"},
	{config.ProtoPOP3S, "_pop3s", "pop3", "SSL"},
	{config.ProtoPOP3, "_pop3", "pop3", "STARTTLS"},
}

// services returns the config's client listeners by SRV name (the first
// listener of each protocol); a protocol without a listener is absent.
func services(cfg *config.Config) map[string]service {
	out := map[string]service{}
	for _, o := range srvOrder {
		for _, l := range cfg.Listeners {
			if l.Protocol != o.proto {
				continue
			}
			_, p, err := net.SplitHostPort(l.Address)
			port, err2 := strconv.Atoi(p)
			if err == nil && err2 == nil {
				out[o.srv] = service{srv: o.srv, kind: o.kind, socket: o.socket, port: port}
			}
			break
		}
	}
	return out
}

// clientConfig is what the HTTP listener's autoconfig file describes.
func clientConfig(cfg *config.Config) web.ClientConfig {
	cc := web.ClientConfig{Domains: cfg.LocalDomains}
	have := services(cfg)
	for _, o := range srvOrder {
		s, ok := have[o.srv]
		if !ok {
			continue
		}
		cs := web.ClientServer{Type: s.kind, Hostname: cfg.Hostname, Port: s.port, Socket: s.socket}
		if s.kind == "smtp" {
			cc.Outgoing = append(cc.Outgoing, cs)
		} else {
			cc.Incoming = append(cc.Incoming, cs)
		}
	}
	return cc
}

// dnsRecordsCommand prints, as zone-file lines, every record to publish
// for DOMAIN: MX, SPF, DKIM, DMARC, SRV, the autoconfig and autodiscover
// names, MTA-STS, TLS-RPT and TLSA.
func dnsRecordsCommand(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dns-records", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	check := fs.Bool("check", false, "look each record up in DNS and say which are missing or differ")
	var domain string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		domain, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if domain == "" && fs.NArg() == 1 {
		domain = fs.Arg(0)
	} else if fs.NArg() != 0 {
		domain = ""
	}
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !config.IsDomain(domain) {
		fmt.Fprintln(stderr, usageLine(dnsRecordsUsage))
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	var out bytes.Buffer
	if err := writeDNSRecords(&out, cfg, domain); err != nil {
		fmt.Fprintln(stderr, "mailgate dns-records:", err)
		return 1
	}
	if !*check {
		stdout.Write(out.Bytes())
		return 0
	}
	if bad := checkDNSRecords(stdout, cfg, out.Bytes()); bad > 0 {
		fmt.Fprintf(stdout, "%d record(s) to publish or fix\n", bad)
		return 1
	}
	return 0
}

// writeDNSRecords prints the records in zone-file syntax, with comments
// saying what each group is for.
func writeDNSRecords(w io.Writer, cfg *config.Config, domain string) error {
	host := strings.TrimSuffix(cfg.Hostname, ".") + "."
	d := domain + "."
	fmt.Fprintf(w, "; DNS records for %s, served by %s (config: %s)\n", domain, cfg.Hostname, cfg.File)
	if !isLocalDomain(cfg, domain) {
		fmt.Fprintf(w, "; note: %s is not in local_domains, so mail sent to it is not accepted here\n", domain)
	}
	fmt.Fprintf(w, "\n; mail for %s goes to this server\n", domain)
	fmt.Fprintf(w, "%s 3600 IN MX 10 %s\n", d, host)
	fmt.Fprintf(w, "\n; SPF: this server (the MX) may send for %s\n", domain)
	fmt.Fprintf(w, "%s 3600 IN TXT \"v=spf1 mx -all\"\n", d)
	if err := writeDKIM(w, cfg, domain); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n; DMARC: quarantine mail that fails SPF and DKIM alignment; reports to postmaster\n")
	fmt.Fprintf(w, "_dmarc.%s 3600 IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"\n", d, domain)
	fmt.Fprintf(w, "\n; client set-up (RFC 6186, RFC 8314); target \".\" means not offered\n")
	have := services(cfg)
	for _, o := range srvOrder {
		if s, ok := have[o.srv]; ok {
			fmt.Fprintf(w, "%s._tcp.%s 3600 IN SRV 0 1 %d %s\n", o.srv, d, s.port, host)
		} else {
			fmt.Fprintf(w, "%s._tcp.%s 3600 IN SRV 0 0 0 .\n", o.srv, d)
		}
	}
	fmt.Fprintf(w, "\n; Thunderbird autoconfig: serve the http listener's /mail/config-v1.1.xml as https://autoconfig.%s/\n", domain)
	fmt.Fprintf(w, "autoconfig.%s 3600 IN CNAME %s\n", d, host)
	fmt.Fprintf(w, "\n; Outlook autodiscover: serve the http listener's /autodiscover/autodiscover.xml over HTTPS on port 443 of %s (SRV) and as https://autodiscover.%s/\n", cfg.Hostname, domain)
	fmt.Fprintf(w, "_autodiscover._tcp.%s 3600 IN SRV 0 1 443 %s\n", d, host)
	fmt.Fprintf(w, "autodiscover.%s 3600 IN CNAME %s\n", d, host)
	writeTransportRecords(w, cfg, domain)
	return nil
}

// writeDKIM prints one TXT record per dkim_sign key of domain.
func writeDKIM(w io.Writer, cfg *config.Config, domain string) error {
	fmt.Fprintf(w, "\n; DKIM: public keys of the dkim_sign filter\n")
	n := 0
	for _, k := range filters.DKIMSignSettings(cfg).Keys {
		if !strings.EqualFold(strings.TrimSuffix(k.Domain, "."), domain) {
			continue
		}
		signer, err := k.Load()
		if err != nil {
			return err
		}
		rec, err := filters.DKIMRecord(signer.Public())
		if err != nil {
			return fmt.Errorf("%s: %v", k.File, err)
		}
		fmt.Fprintln(w, filters.DKIMZoneLine(domain, k.Selector, rec))
		n++
	}
	if n == 0 {
		fmt.Fprintf(w, "; none configured for %s: run `mailgate dkim keygen %s` and add the key to filters.dkim_sign.keys\n", domain, domain)
	}
	return nil
}

func isLocalDomain(cfg *config.Config, domain string) bool {
	for _, l := range cfg.LocalDomains {
		if strings.EqualFold(strings.TrimSuffix(l, "."), domain) {
			return true
		}
	}
	return false
}
