package config

import (
	"fmt"
	"net/url"
	"strings"
)

// ACME obtains the TLS certificates from an ACME CA (RFC 8555), such as
// Let's Encrypt, and renews them before they expire; tls.acme in YAML.
type ACME struct {
	// Email is the account's contact, for the CA's notices.
	Email string `yaml:"email"`
	// Directory is the CA's directory URL; default: Let's Encrypt.
	Directory string `yaml:"directory"`
	// CAFile adds roots (PEM) trusted for the CA's HTTPS, besides the
	// system's: for a private CA, or a test one.
	CAFile string `yaml:"ca_file"`
	// Names get a certificate each; default: the hostname, which must be
	// among them (clients that name no server get its certificate).
	Names []string `yaml:"names"`
	// Challenge is how the CA checks that we hold a name: tls-alpn-01
	// (default; a TLS listener on port 443) or http-01 (the http listener
	// on port 80).
	Challenge string `yaml:"challenge"`
	// AcceptTOS agrees to the CA's terms of service; it must be true.
	AcceptTOS bool `yaml:"accept_tos"`
}

// LetsEncrypt is the production directory of Let's Encrypt, the default
// tls.acme.directory.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// ACME challenge types (RFC 8737, RFC 8555 §8.3).
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// DirectoryURL is the directory, filled in from the default.
func (a *ACME) DirectoryURL() string {
	if a.Directory != "" {
		return a.Directory
	}
	return LetsEncrypt
}

// ChallengeType is the challenge, filled in from the default.
func (a *ACME) ChallengeType() string {
	if a.Challenge != "" {
		return a.Challenge
	}
	return ChallengeTLSALPN
}

// NamesFor returns the names to certify, lower case: Names, or hostname.
func (a *ACME) NamesFor(hostname string) []string {
	names := a.Names
	if len(names) == 0 {
		names = []string{hostname}
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(strings.ToLower(n), ".")
	}
	return out
}

// ImplicitTLS reports whether a protocol's listeners speak TLS from the
// first byte, and so can answer an ACME tls-alpn-01 challenge.
func ImplicitTLS(proto string) bool {
	return proto == ProtoSubmissions || proto == ProtoIMAPS || proto == ProtoPOP3S || proto == ProtoAPI
}

// validateACME checks tls.acme against the rest of the config: the files
// it replaces, the names, and a listener that can answer the challenge.
func (c *Config) validateACME(v *Validator) {
	a := c.TLS.ACME
	if a == nil {
		return
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" || len(c.TLS.More) > 0 {
		v.Errorf("tls.acme", "cannot be used with tls.cert_file, key_file or more_certificates; remove either the files or the acme block")
	}
	if at := strings.LastIndexByte(a.Email, '@'); a.Email != "" && (at < 1 || !IsDomain(a.Email[at+1:]) || strings.ContainsAny(a.Email[:at], " :<>")) {
		v.Errorf("tls.acme.email", "%q is not an email address; write one such as postmaster@example.com", a.Email)
	}
	if u, err := url.Parse(a.DirectoryURL()); err != nil || u.Scheme != "https" || u.Host == "" {
		v.Errorf("tls.acme.directory", "%q is not an https:// URL; write the CA's directory URL, or leave it out for Let's Encrypt (%s)", a.Directory, LetsEncrypt)
	}
	checkFile(v, "tls.acme.ca_file", a.CAFile, "CA certificate")
	c.validateACMENames(v, a)
	if !a.AcceptTOS {
		v.Errorf("tls.acme.accept_tos", "must be true: the CA issues certificates only to accounts that agree to its terms of service (Let's Encrypt: https://letsencrypt.org/repository/); read them, then write accept_tos: true")
	}
	c.validateChallenge(v, a)
}

// validateACMENames checks each name to certify: a public host name
// (with a dot: a CA issues none for a single label), no wildcard (the two
// challenges cannot prove one), the hostname among them.
func (c *Config) validateACMENames(v *Validator, a *ACME) {
	hostname := strings.TrimSuffix(strings.ToLower(c.Hostname), ".")
	found := false
	for i, n := range a.NamesFor(c.Hostname) {
		path := fmt.Sprintf("tls.acme.names[%d]", i)
		if len(a.Names) == 0 {
			path = "hostname"
		}
		if !IsDomain(n) || !strings.Contains(n, ".") {
			v.Errorf(path, "%q cannot get a certificate from a CA; write the server's public host name, such as mail.example.com", n)
		}
		found = found || n == hostname
	}
	if !found {
		v.Errorf("tls.acme.names", "must include the hostname %q: clients that name no server (most SMTP clients) get its certificate; add it", c.Hostname)
	}
}

// validateChallenge checks that some listener can answer the challenge.
func (c *Config) validateChallenge(v *Validator, a *ACME) {
	switch a.ChallengeType() {
	case ChallengeTLSALPN:
		for _, l := range c.Listeners {
			if ImplicitTLS(l.Protocol) {
				return
			}
		}
		v.Errorf("tls.acme.challenge", `tls-alpn-01 is answered on port 443 by a listener with TLS from the first byte, and there is none; add one such as {name: https, protocol: api, address: "[::]:443"}, or use challenge: http-01 with an http listener on port 80`)
	case ChallengeHTTP:
		for _, l := range c.Listeners {
			if l.Protocol == ProtoHTTP {
				return
			}
		}
		v.Errorf("tls.acme.challenge", `http-01 is answered on port 80 by the http listener, and there is none; add one such as {name: http, protocol: http, address: "[::]:80"}, or use challenge: tls-alpn-01`)
	default:
		v.Errorf("tls.acme.challenge", "%q is not a challenge; write tls-alpn-01 or http-01", a.Challenge)
	}
}
