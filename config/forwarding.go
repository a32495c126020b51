package config

import (
	"fmt"
	"strings"
)

// Forwarding says what happens to mail a forward (accounts.yaml
// forwards, a catch-all pointing outside) sends on to another server.
type Forwarding struct {
	// SRS rewrites the envelope sender into the forwarding domain, so the
	// next hop's SPF check passes; bounces to the rewritten address come
	// back and are returned to the original sender.
	SRS bool `yaml:"srs"`
	// SRSMaxAge is how long a rewritten address is honoured for bounces.
	SRSMaxAge Duration `yaml:"srs_max_age"`
	// ARC seals forwarded mail (RFC 8617) with the forwarding domain's
	// RSA key from filters.dkim_sign.keys, recording what mailgate saw.
	ARC bool `yaml:"arc"`
	// KeepSender lists forward addresses ("list@example.com") or whole
	// domains ("@example.com") whose forwards keep the original envelope
	// sender: no SRS for them.
	KeepSender []string `yaml:"keep_sender"`
}

func defaultForwarding() Forwarding {
	return Forwarding{SRS: true, SRSMaxAge: Duration(21 * 24 * 3600e9), ARC: true}
}

// KeepsSender reports whether forwards of addr are exempt from SRS.
func (f *Forwarding) KeepsSender(addr string) bool {
	_, domain, _ := strings.Cut(addr, "@")
	for _, k := range f.KeepSender {
		if strings.EqualFold(k, addr) || strings.HasPrefix(k, "@") && strings.EqualFold(k[1:], domain) {
			return true
		}
	}
	return false
}

func (f *Forwarding) validate(v *Validator) {
	if days := f.SRSMaxAge.D().Hours() / 24; days < 1 || days > 1000 {
		v.Errorf("delivery.forwarding.srs_max_age", "%s is out of range; write from 1d to 1000d (SRS day stamps repeat every 1024 days), such as 21d", f.SRSMaxAge.D())
	}
	for i, k := range f.KeepSender {
		local, domain, ok := strings.Cut(k, "@")
		if !ok || !IsDomain(domain) || strings.ContainsAny(local, " <>") {
			v.Errorf(fmt.Sprintf("delivery.forwarding.keep_sender[%d]", i), "%q is not an address or @domain; write a forward address such as list@example.com, or @example.com", k)
		}
	}
}
