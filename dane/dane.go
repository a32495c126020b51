// Package dane implements DANE for SMTP (RFC 7672, RFC 7671) on the
// sending side: TLSA records looked up through a validating resolver that
// vouches for them with the AD bit, and the matching of a server's
// certificate chain against them. Unlike MTA-STS it needs no trust in a
// public CA, and a downgrade is impossible once DNSSEC says TLSA exists.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

// Certificate usages, selectors and matching types (RFC 6698, RFC 7218).
const (
	UsagePKIXTA = 0
	UsagePKIXEE = 1
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0
	SelectorSPKI = 1

	MatchFull   = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// ErrNoUsable means TLSA records exist but none can be used for SMTP
// (RFC 7672 §2.2: TLS is still mandatory, without authentication).
var ErrNoUsable = errors.New("no usable TLSA records")

// String writes the record in the presentation form used in logs and in
// the published records ("3 1 1 ab12...").
func (r TLSA) String() string {
	return fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchingType, r.Data)
}

// usable tells whether SMTP may use the record: RFC 7672 §3.1.3 says the
// PKIX usages (0, 1) are not for SMTP, and unknown selectors or matching
// types cannot match anything.
func (r TLSA) usable() bool {
	return (r.Usage == UsageDANETA || r.Usage == UsageDANEEE) &&
		r.Selector <= SelectorSPKI && r.MatchingType <= MatchSHA512 && len(r.Data) > 0
}

// Usable reports whether any record can authenticate a server.
func Usable(recs []TLSA) bool {
	for _, r := range recs {
		if r.usable() {
			return true
		}
	}
	return false
}

// Matches tells whether the certificate matches the record's selector
// and matching type, ignoring its usage.
func (r TLSA) Matches(c *x509.Certificate) bool {
	var data []byte
	switch r.Selector {
	case SelectorCert:
		data = c.Raw
	case SelectorSPKI:
		data = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.MatchingType {
	case MatchFull:
	case MatchSHA256:
		h := sha256.Sum256(data)
		data = h[:]
	case MatchSHA512:
		h := sha512.Sum512(data)
		data = h[:]
	default:
		return false
	}
	return bytes.Equal(data, r.Data)
}

// Verify checks the chain a server presented against recs. A DANE-EE
// record authenticates a matching leaf whatever its names and dates
// (RFC 7672 §3.1.1); a DANE-TA record authenticates a chain that leads
// from the leaf to a matching certificate the server sent, for one of
// names, within its dates (RFC 7672 §3.1.2, §3.2.2).
func Verify(chain []*x509.Certificate, recs []TLSA, names []string, now time.Time) error {
	if !Usable(recs) {
		return ErrNoUsable
	}
	if len(chain) == 0 {
		return errors.New("the server sent no certificate")
	}
	for _, r := range recs {
		if r.usable() && r.Usage == UsageDANEEE && r.Matches(chain[0]) {
			return nil
		}
	}
	for _, r := range recs {
		if r.usable() && r.Usage == UsageDANETA && verifyTA(chain, r, names, now) == nil {
			return nil
		}
	}
	return fmt.Errorf("the certificate of %s matches none of its %d TLSA records", first(names), len(recs))
}

func verifyTA(chain []*x509.Certificate, r TLSA, names []string, now time.Time) error {
	for i, ta := range chain {
		if !r.Matches(ta) {
			continue
		}
		roots := x509.NewCertPool()
		roots.AddCert(ta)
		inter := x509.NewCertPool()
		for _, c := range chain[1:i] {
			inter.AddCert(c)
		}
		for _, n := range names {
			opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n, CurrentTime: now}
			if i == 0 {
				// The leaf itself is the trust anchor: only its name counts.
				if err := ta.VerifyHostname(n); err == nil {
					return nil
				}
				continue
			}
			if _, err := chain[0].Verify(opts); err == nil {
				return nil
			}
		}
	}
	return errors.New("no chain to a DANE-TA trust anchor")
}

func first(names []string) string {
	if len(names) == 0 {
		return "the server"
	}
	return names[0]
}
