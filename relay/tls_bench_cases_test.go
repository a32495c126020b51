package relay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// submissionCase is one case of BenchmarkSubmission.
type submissionCase struct {
	name     string
	listener string
	rsa      bool   // an RSA-2048 server certificate instead of the generated ECDSA one
	resume   bool   // the client keeps TLS sessions
	reuse    bool   // one connection for every message
	big      bool   // 100 KB instead of 180 bytes
	dkim     string // "": no filters; "ed25519", "rsa": the submission chain with dkim_sign
	plain    bool   // no TLS (allow_insecure_auth on loopback): the baseline
}

var submissionCases = []submissionCase{
	{name: "plain/new-conn", listener: "submission", plain: true},
	{name: "plain/new-conn/chain-ed25519", listener: "submission", plain: true, dkim: "ed25519"},
	{name: "starttls/new-conn/ecdsa/full", listener: "submission"},
	{name: "starttls/new-conn/ecdsa/resumed", listener: "submission", resume: true},
	{name: "starttls/new-conn/rsa2048/full", listener: "submission", rsa: true},
	{name: "starttls/new-conn/rsa2048/resumed", listener: "submission", rsa: true, resume: true},
	{name: "implicit/new-conn/ecdsa/full", listener: "submissions"},
	{name: "implicit/new-conn/ecdsa/resumed", listener: "submissions", resume: true},
	{name: "starttls/reused-conn", listener: "submission", reuse: true},
	{name: "implicit/reused-conn", listener: "submissions", reuse: true},
	{name: "starttls/reused-conn/100KB", listener: "submission", reuse: true, big: true},
	{name: "implicit/reused-conn/100KB", listener: "submissions", reuse: true, big: true},
	{name: "starttls/new-conn/ecdsa/full/chain-ed25519", listener: "submission", dkim: "ed25519"},
	{name: "starttls/new-conn/ecdsa/full/chain-rsa2048", listener: "submission", dkim: "rsa"},
	{name: "starttls/new-conn/ecdsa/resumed/chain-ed25519", listener: "submission", resume: true, dkim: "ed25519"},
	{name: "implicit/new-conn/ecdsa/full/chain-ed25519", listener: "submissions", dkim: "ed25519"},
	{name: "implicit/new-conn/ecdsa/full/chain-rsa2048", listener: "submissions", dkim: "rsa"},
	{name: "implicit/new-conn/ecdsa/resumed/chain-ed25519", listener: "submissions", resume: true, dkim: "ed25519"},
	{name: "starttls/reused-conn/chain-ed25519", listener: "submission", reuse: true, dkim: "ed25519"},
	{name: "starttls/reused-conn/chain-rsa2048", listener: "submission", reuse: true, dkim: "rsa"},
}

// setup returns the message to send and the config change of the case.
func (bc submissionCase) setup(b *testing.B) (string, func(*config.Config)) {
	msg := message("bench")
	var edits []func(*config.Config)
	if bc.big {
		msg += strings.Repeat(strings.Repeat("x", 98)+"\r\n", 1000)
		edits = append(edits, func(c *config.Config) { c.Limits.MaxMessageSize = 1 << 20 })
	}
	if bc.plain {
		edits = append(edits, func(c *config.Config) {
			for i := range c.Listeners {
				c.Listeners[i].AllowInsecureAuth = true
			}
		})
	}
	if bc.dkim != "" {
		edits = append(edits, submissionChain(b, bc.dkim))
	}
	return msg, func(c *config.Config) {
		for _, e := range edits {
			e(c)
		}
	}
}

// submissionChain gives both submission listeners the default chain
// (ratelimit, sender_policy) plus dkim_sign with a new key of algorithm
// for example.com. The benchmark's clock stands still, so the account's
// bucket never refills: its budget is raised past any b.N.
func submissionChain(b *testing.B, algorithm string) func(*config.Config) {
	_, pemKey, err := filters.GenerateDKIMKey(algorithm)
	if err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "dkim.pem")
	if err := os.WriteFile(file, pemKey, 0o600); err != nil {
		b.Fatal(err)
	}
	return func(c *config.Config) {
		for i := range c.Listeners {
			if strings.HasPrefix(c.Listeners[i].Name, "submission") {
				c.Listeners[i].Filters = []string{"ratelimit", "sender_policy", "dkim_sign"}
			}
		}
		rl := c.Filters.Settings("ratelimit").(*filters.RateLimitConfig)
		rl.PerAccount = filters.Limit{Messages: 1 << 30, Recipients: 1 << 30, Period: rl.PerAccount.Period}
		rl.PerRcptDomain = rl.PerAccount
		ds := c.Filters.Settings("dkim_sign").(*filters.DKIMSignConfig)
		ds.Keys = []filters.DKIMKey{{Domain: "example.com", Selector: "bench", File: file}}
	}
}
