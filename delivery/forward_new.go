package delivery

import (
	"crypto"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"mailgate/arc"
	"mailgate/config"
	"mailgate/resolver"
	"mailgate/srs"
)

// NewForwarding builds what delivery.forwarding asks for: SRS with rw
// (made by the caller, who shares it with the relay that reverses the
// addresses), ARC sets with the RSA keys of filters.dkim_sign. It returns
// nil when both are off.
func NewForwarding(cfg *config.Config, rw *srs.Rewriter, res resolver.Resolver, logger *slog.Logger) (*Forwarding, error) {
	fc := cfg.Delivery.Forwarding
	if !fc.SRS && !fc.ARC {
		return nil, nil
	}
	f := &Forwarding{AuthServID: cfg.Hostname, LookupTXT: res.LookupTXT, KeepSender: fc.KeepsSender, Logger: logger}
	if fc.SRS {
		f.SRS = rw
	}
	if fc.ARC {
		sealers, err := arcSealers(cfg)
		if err != nil {
			return nil, err
		}
		f.Sealer = sealerFor(sealers, strings.ToLower(cfg.Filters.DKIMSign.DefaultDomain))
	}
	return f, nil
}

// arcSealers makes one sealer per domain from the first RSA key of
// filters.dkim_sign.keys for it (ARC defines rsa-sha256 only).
func arcSealers(cfg *config.Config) (map[string]*arc.Sealer, error) {
	out := map[string]*arc.Sealer{}
	for _, k := range cfg.Filters.DKIMSign.Keys {
		d := strings.ToLower(k.Domain)
		if out[d] != nil {
			continue
		}
		data, err := os.ReadFile(k.File)
		if err != nil {
			return nil, fmt.Errorf("filters.dkim_sign.keys: %w", err)
		}
		key, err := config.ParseDKIMKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.File, err)
		}
		if _, ok := key.(*rsa.PrivateKey); !ok {
			continue
		}
		out[d] = &arc.Sealer{Domain: d, Selector: k.Selector, Key: key.(crypto.Signer), AuthServID: cfg.Hostname}
	}
	return out, nil
}

// sealerFor picks the forwarding domain's sealer, else the default
// domain's: the seal vouches for the forwarder, whatever its name.
func sealerFor(sealers map[string]*arc.Sealer, fallback string) func(string) *arc.Sealer {
	return func(domain string) *arc.Sealer {
		if s := sealers[domain]; s != nil {
			return s
		}
		return sealers[fallback]
	}
}
