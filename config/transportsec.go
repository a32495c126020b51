package config

import (
	"net"
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
