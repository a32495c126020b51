package delivery

import (
	"log/slog"

	"mailgate/arc"
	"mailgate/config"
	"mailgate/resolver"
	"mailgate/srs"
)

// NewForwarding builds what delivery.forwarding asks for: SRS with rw
// (made by the caller, who shares it with the relay that reverses the
// addresses), ARC sets sealed by sealer (the dkim_sign filter's keys,
// filters.ARCSealer; nil when forwarding.arc is off). It returns nil when
// both are off.
func NewForwarding(cfg *config.Config, rw *srs.Rewriter, sealer func(domain string) *arc.Sealer, res resolver.Resolver, logger *slog.Logger) *Forwarding {
	fc := cfg.Delivery.Forwarding
	if !fc.SRS && !fc.ARC {
		return nil
	}
	f := &Forwarding{AuthServID: cfg.Hostname, LookupTXT: res.LookupTXT, KeepSender: fc.KeepsSender, Logger: logger}
	if fc.SRS {
		f.SRS = rw
	}
	if fc.ARC {
		f.Sealer = sealer
	}
	return f
}
