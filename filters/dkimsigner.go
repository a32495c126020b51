package filters

import (
	"context"

	"mailgate/config"
)

// DKIMSigner signs mail that mailgate writes itself rather than receives
// (Sieve vacation replies), with the same keys and header set as the
// dkim_sign filter, so it leaves like other outgoing mail.
type DKIMSigner struct{ f *dkimSignFilter }

// NewDKIMSigner loads filters.dkim_sign's keys; with none configured,
// Sign returns messages unchanged. deps.Metrics, when nil, is made
// unregistered (the chains register theirs).
func NewDKIMSigner(cfg *config.Config, deps Deps) (*DKIMSigner, error) {
	if deps.Metrics == nil {
		deps.Metrics = NewMetrics(nil)
	}
	deps = withDefaults(deps, cfg)
	c := DKIMSignSettings(cfg)
	f, err := newDKIMSign(&c, cfg, deps)
	if err != nil {
		return nil, err
	}
	return &DKIMSigner{f: f}, nil
}

// Sign returns raw with DKIM-Signature fields on top.
func (s *DKIMSigner) Sign(ctx context.Context, raw []byte) ([]byte, error) {
	msg := NewMessage("", nil, raw)
	if err := s.f.Decorate(ctx, nil, msg); err != nil {
		return nil, err
	}
	return append(msg.Prepend, raw...), nil
}
