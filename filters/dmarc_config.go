package filters

import (
	"fmt"

	"mailgate/config"
)

// DMARCConfig is the dmarc block: the header From domain's DMARC policy
// (RFC 7489), from the results of spf and dkim_verify.
type DMARCConfig struct {
	Actions Actions         `yaml:"actions"`
	Timeout config.Duration `yaml:"timeout"`
	// TrustedARCSealers are domains (d= of an ARC-Seal) whose passing
	// chain overrides a DMARC failure when the newest set, theirs,
	// records dmarc=pass: the forwarders and lists you know (RFC 8617
	// section 7.2). Needs arc_verify before dmarc.
	TrustedARCSealers []string `yaml:"trusted_arc_sealers"`
}

var dmarcResults = map[string]string{"pass": ActionAccept, "none": ActionAccept, "fail_none": ActionTag,
	"fail_quarantine": ActionQuarantine, "fail_reject": ActionReject,
	"temperror": ActionAccept, "permerror": ActionAccept}

func defaultDMARCConfig() *DMARCConfig { return &DMARCConfig{Timeout: config.Duration(20e9)} }

// ActionMap returns the block's actions: key.
func (c *DMARCConfig) ActionMap() Actions { return c.Actions }

// check also wants, on every listener that runs dmarc, the filters whose
// results it reads listed before it.
func (c *DMARCConfig) check(b *config.FilterBlock) {
	positiveDuration(b, "timeout", c.Timeout)
	for i, d := range c.TrustedARCSealers {
		if !config.IsDomain(d) {
			b.Errorf(fmt.Sprintf("trusted_arc_sealers[%d]", i), "%q is not a domain; write the d= domain of a forwarder's ARC-Seal, such as lists.example.org", d)
		}
	}
	for _, use := range b.Listeners() {
		for _, need := range []string{"spf", "dkim_verify"} {
			if !use.Before(need) {
				use.Errorf("dmarc uses the results of %s; list %s before dmarc", need, need)
			}
		}
		if len(c.TrustedARCSealers) > 0 && !use.Before("arc_verify") {
			use.Errorf("filters.dmarc.trusted_arc_sealers needs the ARC result; list arc_verify before dmarc")
		}
	}
}
