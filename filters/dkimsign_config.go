package filters

import (
	"fmt"
	"os"
	"strings"

	"mailgate/config"
)

// DKIMSignConfig is the dkim_sign block: outgoing mail is signed with
// every key of the header From's domain, or of DefaultDomain when From's
// domain has none.
type DKIMSignConfig struct {
	DefaultDomain string    `yaml:"default_domain"`
	Keys          []DKIMKey `yaml:"keys"`
	// Expiration sets x= this long after signing (0: none).
	Expiration config.Duration `yaml:"expiration"`
}

// DKIMKey is one signing key, a PEM file (RSA or Ed25519).
type DKIMKey struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	File     string `yaml:"file"`
}

func defaultDKIMSignConfig() *DKIMSignConfig { return &DKIMSignConfig{} }

// DKIMSignSettings returns cfg's dkim_sign block, whose keys also seal
// forwarded mail (ARCSealer) and are published by dns-records.
func DKIMSignSettings(cfg *config.Config) DKIMSignConfig {
	if c, ok := cfg.Filters.Settings("dkim_sign").(*DKIMSignConfig); ok {
		return *c
	}
	return DKIMSignConfig{}
}

// check reads every key file, so a key that cannot sign is found by
// check-config rather than by the first message.
func (c *DKIMSignConfig) check(b *config.FilterBlock) {
	uses := b.Listeners()
	for _, use := range uses {
		if use.Listener.Protocol != config.ProtoSMTP && !use.Lists("sender_policy") {
			use.Errorf("dkim_sign would sign whatever address a logged-in account writes; list sender_policy too")
		}
	}
	if len(uses) == 0 && len(c.Keys) == 0 {
		return
	}
	if len(uses) > 0 && len(c.Keys) == 0 {
		b.Errorf("keys", "missing; list at least one key (domain, selector, file); `mailgate dkim keygen DOMAIN` makes one")
	}
	domains := map[string]bool{}
	seen := map[string]bool{}
	for i, k := range c.Keys {
		key := fmt.Sprintf("keys[%d]", i)
		k.check(b, key)
		id := strings.ToLower(k.Domain + "/" + k.Selector)
		if seen[id] {
			b.Errorf(key+".selector", "selector %q of %s is listed twice; give each key its own selector", k.Selector, k.Domain)
		}
		seen[id] = true
		domains[strings.ToLower(k.Domain)] = true
	}
	if c.DefaultDomain != "" && !domains[strings.ToLower(c.DefaultDomain)] {
		b.Errorf("default_domain", "%q has no key in filters.dkim_sign.keys; add a key for it or write one of the keys' domains", c.DefaultDomain)
	}
}

func (k DKIMKey) check(b *config.FilterBlock, key string) {
	if !config.IsDomain(k.Domain) {
		b.Errorf(key+".domain", "%q is not a domain; write the domain to sign for, such as example.com", k.Domain)
	}
	if !config.IsDomain(k.Selector) {
		b.Errorf(key+".selector", "%q is not a selector; write a DNS label such as mail2025", k.Selector)
	}
	if k.File == "" {
		b.Errorf(key+".file", "missing; write the path of the PEM private key")
	} else if err := checkDKIMKey(k.File); err != "" {
		b.Errorf(key+".file", "%s", err)
	}
}

// checkDKIMKey returns what is wrong with a signing key file, or "".
func checkDKIMKey(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("cannot read key file %q (%s); write the path of a readable PEM private key", name, config.Reason(err))
	}
	if _, err := ParseDKIMKey(data); err != nil {
		return fmt.Sprintf("key file %q: %v", name, err)
	}
	return ""
}
