package config

import (
	"fmt"
	"net"
	"strings"
)

// Delivery configures how mail leaves for other servers.
type Delivery struct {
	// DNS is the resolver used for MX lookups, as host:port. Empty means the
	// system resolver (/etc/resolv.conf).
	DNS string `yaml:"dns"`
	// Port is the remote SMTP port; only tests change it from 25.
	Port int `yaml:"port"`
	// HeloName is the name sent in EHLO; empty means the top-level hostname.
	HeloName string `yaml:"helo_name"`
	// RequireTLS lists destination domains whose MX hosts must offer
	// STARTTLS with a certificate valid for the MX name; otherwise
	// delivery is deferred rather than sent in clear.
	RequireTLS []string `yaml:"require_tls"`
	// IdleTimeout is how long an unused connection is kept open for the
	// next message to the same host.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxIdlePerHost caps the connections kept open per host. The default
	// is queue.per_destination's, so that a busy destination's
	// connections all stay open between messages: with 2, most of 20
	// parallel deliveries dialled, greeted and quit for each message
	// (bench/compare, mailgate-bench send at 4 KB, c=20: 10-30% fewer
	// messages per second).
	MaxIdlePerHost int               `yaml:"max_idle_per_host"`
	Timeouts       DeliveryTimeouts  `yaml:"timeouts"`
	Smarthost      DeliverySmarthost `yaml:"smarthost"`
	MTASTS         DeliveryMTASTS    `yaml:"mta_sts"`
	DANE           DeliveryDANE      `yaml:"dane"`
	Forwarding     Forwarding        `yaml:"forwarding"`
	Local          DeliveryLocal     `yaml:"local"`
}

// DeliveryTimeouts are the SMTP client timeouts of RFC 5321 §4.5.3.2.
type DeliveryTimeouts struct {
	Connect   Duration `yaml:"connect"`
	Greeting  Duration `yaml:"greeting"`
	Mail      Duration `yaml:"mail"`
	Rcpt      Duration `yaml:"rcpt"`
	DataInit  Duration `yaml:"data_init"`
	DataBlock Duration `yaml:"data_block"`
	DataEnd   Duration `yaml:"data_end"`
}

// Smarthost TLS modes.
const (
	SmarthostSTARTTLS = "starttls"
	SmarthostImplicit = "implicit"
	SmarthostNoTLS    = "none"
)

// DeliverySmarthost sends all non-local mail through one upstream relay.
// An empty Host means mail goes straight to the recipients' MX hosts.
type DeliverySmarthost struct {
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls and none, 465 for implicit.
	Port int `yaml:"port"`
	// TLS is starttls (required, verified), implicit or none.
	TLS          string `yaml:"tls"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// CAFile adds trusted certificates (PEM) for a relay with a private CA.
	CAFile string `yaml:"ca_file"`
}

func defaultDelivery() Delivery {
	return Delivery{
		Port:           25,
		IdleTimeout:    Duration(30e9),
		MaxIdlePerHost: 20,
		Timeouts: DeliveryTimeouts{
			Connect:   Duration(30e9),
			Greeting:  Duration(5 * 60e9),
			Mail:      Duration(5 * 60e9),
			Rcpt:      Duration(5 * 60e9),
			DataInit:  Duration(2 * 60e9),
			DataBlock: Duration(3 * 60e9),
			DataEnd:   Duration(10 * 60e9),
		},
		Smarthost:  DeliverySmarthost{TLS: SmarthostSTARTTLS},
		MTASTS:     DeliveryMTASTS{Enabled: true, Port: 443},
		Forwarding: defaultForwarding(),
	}
}

// SmarthostPort is the port to use, filling in the default for the mode.
func (s *DeliverySmarthost) SmarthostPort() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLS == SmarthostImplicit:
		return 465
	}
	return 587
}

func (d *Delivery) validate(v *Validator) {
	if d.Port < 1 || d.Port > 65535 {
		v.Errorf("delivery.port", "port %d is out of range; write a port from 1 to 65535", d.Port)
	}
	if d.DNS != "" {
		if _, _, err := net.SplitHostPort(d.DNS); err != nil {
			v.Errorf("delivery.dns", "%q is not host:port; write a DNS server such as 127.0.0.1:53, or leave it empty for the system resolver", d.DNS)
		}
	}
	if d.HeloName != "" && !IsDomain(d.HeloName) {
		v.Errorf("delivery.helo_name", "%q is not a host name; write a fully qualified name such as mail.example.com", d.HeloName)
	}
	for i, dom := range d.RequireTLS {
		if !IsDomain(dom) {
			v.Errorf(fmt.Sprintf("delivery.require_tls[%d]", i), "%q is not a domain; write a domain name such as example.com", dom)
		}
	}
	if d.MaxIdlePerHost < 0 {
		v.Errorf("delivery.max_idle_per_host", "%d is not allowed; write 0 (no reuse) or more", d.MaxIdlePerHost)
	}
	d.Timeouts.validate(v)
	d.Smarthost.validate(v)
	d.MTASTS.validate(v)
	d.DANE.validate(v)
	d.Forwarding.validate(v)
	d.Local.validate(v)
}

func (t *DeliveryTimeouts) validate(v *Validator) {
	for _, f := range []struct {
		key string
		d   Duration
		rfc string
	}{
		{"connect", t.Connect, "30s"}, {"greeting", t.Greeting, "5m"}, {"mail", t.Mail, "5m"},
		{"rcpt", t.Rcpt, "5m"}, {"data_init", t.DataInit, "2m"}, {"data_block", t.DataBlock, "3m"},
		{"data_end", t.DataEnd, "10m"},
	} {
		if f.d.D() < 1e9 {
			v.Errorf("delivery.timeouts."+f.key, "must be at least 1s; the usual value is %s (RFC 5321 §4.5.3.2)", f.rfc)
		}
	}
}

func (s *DeliverySmarthost) validate(v *Validator) {
	if s.Host == "" {
		if s.Username != "" || s.PasswordFile != "" {
			v.Errorf("delivery.smarthost.host", "missing; write the relay's host name, or remove username and password_file")
		}
		return
	}
	if !IsDomain(s.Host) && net.ParseIP(s.Host) == nil {
		v.Errorf("delivery.smarthost.host", "%q is not a host name or IP address; write one such as smtp.example.net", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		v.Errorf("delivery.smarthost.port", "port %d is out of range; write a port from 1 to 65535, or leave it out", s.Port)
	}
	switch s.TLS {
	case SmarthostSTARTTLS, SmarthostImplicit:
	case SmarthostNoTLS:
		if s.Username != "" && !isLoopbackHost(s.Host) {
			v.Errorf("delivery.smarthost.tls", "none would send the password in clear to %s; write starttls or implicit", s.Host)
		}
	default:
		v.Errorf("delivery.smarthost.tls", "%q is not a TLS mode; write starttls, implicit or none", s.TLS)
	}
	if (s.Username == "") != (s.PasswordFile == "") {
		v.Errorf("delivery.smarthost", "username and password_file go together; give both, or neither for a relay without AUTH")
	}
	checkFile(v, "delivery.smarthost.password_file", s.PasswordFile, "password")
	checkFile(v, "delivery.smarthost.ca_file", s.CAFile, "CA certificate")
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
