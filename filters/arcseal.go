package filters

import (
	"crypto/rsa"
	"fmt"
	"strings"

	"mailgate/arc"
	"mailgate/config"
)

// ARCSealer returns the sealer forwarded mail gets (delivery.forwarding.arc):
// the forwarding domain's, else dkim_sign's default domain's. Each domain
// seals with its first RSA key of filters.dkim_sign.keys (ARC defines
// rsa-sha256 only).
func ARCSealer(cfg *config.Config) (func(domain string) *arc.Sealer, error) {
	c := DKIMSignSettings(cfg)
	sealers := map[string]*arc.Sealer{}
	for _, k := range c.Keys {
		d := strings.ToLower(k.Domain)
		if sealers[d] != nil {
			continue
		}
		key, err := k.Load()
		if err != nil {
			return nil, fmt.Errorf("filters.dkim_sign.keys: %w", err)
		}
		if _, ok := key.(*rsa.PrivateKey); !ok {
			continue
		}
		sealers[d] = &arc.Sealer{Domain: d, Selector: k.Selector, Key: key, AuthServID: cfg.Hostname}
	}
	fallback := strings.ToLower(c.DefaultDomain)
	return func(domain string) *arc.Sealer {
		if s := sealers[domain]; s != nil {
			return s
		}
		return sealers[fallback]
	}, nil
}
