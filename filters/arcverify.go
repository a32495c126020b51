package filters

import (
	"context"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/authres"

	"mailgate/arc"
	"mailgate/config"
	"mailgate/resolver"
)

// arcVerifyFilter checks the ARC chain of incoming mail (RFC 8617) and
// records arc=pass, fail or none; the dmarc filter may honour a passing
// chain from a trusted sealer.
type arcVerifyFilter struct {
	resolver resolver.Resolver
	timeout  time.Duration
}

func newARCVerify(c *ARCVerifyConfig, _ *config.Config, deps Deps) (*arcVerifyFilter, error) {
	return &arcVerifyFilter{resolver: deps.Resolver, timeout: c.Timeout.D()}, nil
}

func (f *arcVerifyFilter) Name() string             { return "arc_verify" }
func (f *arcVerifyFilter) Begin(conn *Conn) Session { return f }
func (f *arcVerifyFilter) Close()                   {}

// CheckData verifies the chain; the body is read from where it lies.
func (f *arcVerifyFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r := arc.VerifyHeader(ctx, msg.Header, bodyReader(msg.Body), f.resolver.LookupTXT)
	st.ARC = &r
	// A GenericResult: go-msgauth v0.7.0 formats its ARCResult without
	// the method name ("=pass").
	params := map[string]string{"smtp.remote-ip": ipOf(st.Conn)}
	if r.Status == arc.Fail {
		params = map[string]string{"reason": r.Reason}
	}
	st.auth = append(st.auth, &authres.GenericResult{Method: "arc", Value: authres.ResultValue(r.Status), Params: params})
	return Verdict{Result: r.Status, Reason: r.Reason}
}

func ipOf(c *Conn) string {
	if c == nil || c.IP == nil {
		return ""
	}
	return c.IP.String()
}

// arcOverride reports whether a DMARC failure is overridden by the ARC
// chain: it passed, and its newest set is sealed by a trusted domain that
// recorded dmarc=pass on arrival. It returns that sealer.
func arcOverride(st *State, trusted []string) (string, bool) {
	r := st.ARC
	if r == nil || r.Status != arc.Pass || len(r.Sealers) == 0 {
		return "", false
	}
	sealer := r.Sealers[len(r.Sealers)-1]
	ok := false
	for _, d := range trusted {
		ok = ok || strings.EqualFold(strings.TrimSuffix(d, "."), sealer)
	}
	if !ok {
		return "", false
	}
	_, results, err := authres.Parse(r.Results[len(r.Results)-1])
	if err != nil {
		return "", false
	}
	for _, res := range results {
		if d, isDMARC := res.(*authres.DMARCResult); isDMARC && d.Value == authres.ResultPass {
			return sealer, true
		}
	}
	return "", false
}
