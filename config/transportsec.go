package config

import (
	"fmt"
	"net"
	"strings"
)

// DeliveryMTASTS configures MTA-STS (RFC 8461) on outbound delivery.
type DeliveryMTASTS struct {
	// Enabled looks up and applies the destination's policy. On by
	// default: a domain without a policy costs one TXT lookup.
	Enabled bool `yaml:"enabled"`
	// Port is the policy host's HTTPS port; only tests change it from 443.
	Port int `yaml:"port"`
	// CAFile adds trusted roots (PEM) for policy hosts and for MX
	// certificates, for a private CA; the system's roots stay trusted.
	CAFile string `yaml:"ca_file"`
}

// DeliveryDANE configures DANE (RFC 7672) on outbound delivery.
type DeliveryDANE struct {
	// Resolver is a DNSSEC-validating resolver as host:port (unbound on
	// loopback, say). Empty turns DANE off: the AD bit is only worth
	// what the path to a resolver we trust is worth.
	Resolver string `yaml:"resolver"`
}

func (m *DeliveryMTASTS) validate(v *Validator) {
	if m.Port < 0 || m.Port > 65535 {
		v.Errorf("delivery.mta_sts.port", "port %d is out of range; write a port from 1 to 65535, or leave it out for 443", m.Port)
	}
	checkFile(v, "delivery.mta_sts.ca_file", m.CAFile, "CA certificate")
}

func (d *DeliveryDANE) validate(v *Validator) {
	if d.Resolver == "" {
		return
	}
	host, _, err := net.SplitHostPort(d.Resolver)
	if err != nil {
		v.Errorf("delivery.dane.resolver", "%q is not host:port; write a validating resolver such as 127.0.0.1:53", d.Resolver)
		return
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		v.Errorf("delivery.dane.resolver", "%q is not on loopback; DANE trusts the resolver's AD bit, so run a validating resolver (unbound) on this machine", d.Resolver)
	}
}

// Reports configures the aggregate reports mailgate sends to other
// domains: TLS-RPT (RFC 8460) about our deliveries to them, and DMARC
// (RFC 7489 §7.2) about the mail they sent us. Counts are always kept;
// nothing is sent until Send is on, since a report tells its receiver
// which hosts mailed whom.
type Reports struct {
	Send bool `yaml:"send"`
	// Organization names us in reports; default: the hostname.
	Organization string `yaml:"organization"`
	// Contact is the From address of reports and the contact in them;
	// default: postmaster@ the first local domain (or the hostname).
	Contact string `yaml:"contact"`
}

// MTASTSPolicy is the MTA-STS policy mailgate publishes for its local
// domains at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.
type MTASTSPolicy struct {
	// Mode is enforce, testing or none; empty serves no policy.
	Mode string `yaml:"mode"`
	// MX lists the MX host names (patterns like *.example.com allowed);
	// default: the hostname.
	MX     []string `yaml:"mx"`
	MaxAge Duration `yaml:"max_age"`
}

func (r *Reports) validate(v *Validator) {
	if r.Contact != "" && !strings.Contains(r.Contact, "@") {
		v.Errorf("reports.contact", "%q is not an email address; write one such as postmaster@example.com", r.Contact)
	}
}

func (p *MTASTSPolicy) validate(v *Validator) {
	switch p.Mode {
	case "", "enforce", "testing", "none":
	default:
		v.Errorf("mta_sts.mode", "%q is not a mode; write enforce, testing or none", p.Mode)
	}
	for i, mx := range p.MX {
		if !IsDomain(strings.TrimPrefix(mx, "*.")) {
			v.Errorf(fmt.Sprintf("mta_sts.mx[%d]", i), "%q is not a host name; write one such as mx.example.com or *.example.com", mx)
		}
	}
	if p.MaxAge.D() < 0 || p.MaxAge.D() > 31557600e9 {
		v.Errorf("mta_sts.max_age", "must be from 0 to one year (RFC 8461 §3.2); a week (168h) is usual")
	}
}

// ReportContact is the contact address, filled in from the defaults.
func (c *Config) ReportContact() string {
	if c.Reports.Contact != "" {
		return c.Reports.Contact
	}
	if len(c.LocalDomains) > 0 {
		return "postmaster@" + c.LocalDomains[0]
	}
	return "postmaster@" + c.Hostname
}

// ReportOrganization is the organisation name, filled in from defaults.
func (c *Config) ReportOrganization() string {
	if c.Reports.Organization != "" {
		return c.Reports.Organization
	}
	return c.Hostname
}

// PolicyMX is the MX list of the published MTA-STS policy.
func (p *MTASTSPolicy) PolicyMX(hostname string) []string {
	if len(p.MX) > 0 {
		return p.MX
	}
	return []string{hostname}
}
