package config

import (
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
)

// Filters holds one block per filter; a listener lists which of them run.
// Each filter reports a result (its verdict); Actions maps results to what
// mailgate does about them, so policy is configured apart from detection.
type Filters struct {
	SPF          SPFFilter          `yaml:"spf"`
	DKIMVerify   DKIMVerifyFilter   `yaml:"dkim_verify"`
	DMARC        DMARCFilter        `yaml:"dmarc"`
	ARCVerify    ARCVerifyFilter    `yaml:"arc_verify"`
	RateLimit    RateLimitFilter    `yaml:"ratelimit"`
	SenderPolicy SenderPolicyFilter `yaml:"sender_policy"`
	Milter       MilterFilter       `yaml:"milter"`
	DKIMSign     DKIMSignFilter     `yaml:"dkim_sign"`
}

// Actions a filter result can be mapped to.
const (
	ActionAccept     = "accept"     // do nothing
	ActionTag        = "tag"        // add an X-Mailgate-Verdict header field
	ActionQuarantine = "quarantine" // deliver to the recipient's Junk folder
	ActionTempfail   = "tempfail"   // 4xx reply: the sender retries later
	ActionReject     = "reject"     // 5xx reply
	ActionDiscard    = "discard"    // accept and drop (milter only)
)

// Actions maps a filter's results to actions; results left out keep their
// default.
type Actions map[string]string

// SPFFilter checks the client IP against the MAIL FROM (or HELO) domain's
// SPF record (RFC 7208).
type SPFFilter struct {
	Actions Actions  `yaml:"actions"`
	Timeout Duration `yaml:"timeout"` // for all DNS lookups of one check
}

// DKIMVerifyFilter checks the DKIM signatures of incoming messages.
type DKIMVerifyFilter struct {
	Actions Actions `yaml:"actions"`
	// MaxSignatures caps how many signatures are checked per message.
	MaxSignatures int      `yaml:"max_signatures"`
	Timeout       Duration `yaml:"timeout"`
}

// DMARCFilter applies the header From domain's DMARC policy (RFC 7489).
type DMARCFilter struct {
	Actions Actions  `yaml:"actions"`
	Timeout Duration `yaml:"timeout"`
	// TrustedARCSealers are domains (d= of an ARC-Seal) whose passing
	// chain overrides a DMARC failure when the newest set, theirs,
	// records dmarc=pass: the forwarders and lists you know (RFC 8617
	// section 7.2). Needs arc_verify before dmarc.
	TrustedARCSealers []string `yaml:"trusted_arc_sealers"`
}

// Limit is a token bucket: Messages and Recipients per Period (0: no limit).
type Limit struct {
	Messages   int      `yaml:"messages"`
	Recipients int      `yaml:"recipients"`
	Period     Duration `yaml:"period"`
}

// ConnLimit caps new connections per client IP (IPv6 per /64) per Period.
type ConnLimit struct {
	Count  int      `yaml:"count"`
	Period Duration `yaml:"period"`
}

// RateLimitFilter keeps token buckets: per account and recipient domain
// for clients that logged in, per client IP and sender domain for those
// that did not; connections per IP count only connections that do not
// log in.
type RateLimitFilter struct {
	Actions         Actions   `yaml:"actions"`
	PerAccount      Limit     `yaml:"per_account"`
	PerIP           Limit     `yaml:"per_ip"`
	PerSenderDomain Limit     `yaml:"per_sender_domain"`
	PerRcptDomain   Limit     `yaml:"per_recipient_domain"`
	Connections     ConnLimit `yaml:"connections_per_ip"`
	// Accounts replace PerAccount for the named accounts (an application
	// may get a larger budget); a missing period is PerAccount's.
	Accounts map[string]Limit `yaml:"accounts"`
	// MaxBuckets bounds memory: idle buckets are evicted first.
	MaxBuckets int `yaml:"max_buckets"`
}

// SenderPolicyFilter restricts what an authenticated account may send as.
type SenderPolicyFilter struct {
	Actions Actions `yaml:"actions"`
	// Fixups adds Message-ID and Date when missing (RFC 6409 section 8).
	Fixups bool `yaml:"fixups"`
}

// MilterFilter hands each message to an external milter such as rspamd.
type MilterFilter struct {
	Actions Actions `yaml:"actions"`
	// Address is host:port, or unix:/path for a Unix socket.
	Address        string   `yaml:"address"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	Timeout        Duration `yaml:"timeout"` // per read or write
}

// DKIMKey is one signing key, a PEM file (RSA or Ed25519).
type DKIMKey struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	File     string `yaml:"file"`
}

// DKIMSignFilter signs outgoing mail with every key of the header From's
// domain, or of DefaultDomain when From's domain has none.
type DKIMSignFilter struct {
	DefaultDomain string    `yaml:"default_domain"`
	Keys          []DKIMKey `yaml:"keys"`
	// Expiration sets x= this long after signing (0: none).
	Expiration Duration `yaml:"expiration"`
}

// FilterResults lists each filter's results with their default action.
var filterResults = map[string]map[string]string{
	"spf": {"pass": ActionAccept, "fail": ActionReject, "softfail": ActionTag, "neutral": ActionTag,
		"none": ActionAccept, "temperror": ActionTempfail, "permerror": ActionTag},
	"dkim_verify": {"pass": ActionAccept, "fail": ActionTag, "policy": ActionAccept, "none": ActionAccept,
		"temperror": ActionAccept, "permerror": ActionTag},
	"dmarc": {"pass": ActionAccept, "none": ActionAccept, "fail_none": ActionTag,
		"fail_quarantine": ActionQuarantine, "fail_reject": ActionReject,
		"temperror": ActionAccept, "permerror": ActionAccept},
	"arc_verify":    {"pass": ActionAccept, "fail": ActionAccept, "none": ActionAccept},
	"ratelimit":     {"pass": ActionAccept, "over": ActionTempfail, "flood": ActionTempfail},
	"sender_policy": {"pass": ActionAccept, "none": ActionAccept, "forbidden": ActionReject},
	"milter": {"accept": ActionAccept, "reject": ActionReject, "tempfail": ActionTempfail,
		"discard": ActionDiscard, "quarantine": ActionQuarantine, "error": ActionTempfail},
	"dkim_sign": {},
}

// FilterResults returns the results filter name reports, each with the
// action it gets unless the config says otherwise.
func FilterResults(name string) map[string]string { return filterResults[name] }

// Action returns the configured action for result of filter name.
func (a Actions) Action(name, result string) string {
	if act, ok := a[result]; ok {
		return act
	}
	if act, ok := filterResults[name][result]; ok {
		return act
	}
	return ActionAccept
}

func defaultFilters() Filters {
	return Filters{
		SPF:        SPFFilter{Timeout: Duration(20e9)},
		DKIMVerify: DKIMVerifyFilter{MaxSignatures: 5, Timeout: Duration(20e9)},
		DMARC:      DMARCFilter{Timeout: Duration(20e9)},
		ARCVerify:  ARCVerifyFilter{Timeout: Duration(20e9)},
		RateLimit: RateLimitFilter{
			// Logged-in clients: an application may send 100 messages
			// a second, to one domain as to many.
			PerAccount:    Limit{Messages: 6000, Recipients: 30000, Period: Duration(60e9)},
			PerRcptDomain: Limit{Messages: 6000, Recipients: 30000, Period: Duration(60e9)},
			// Clients that do not log in (MX): tight.
			PerIP:           Limit{Messages: 500, Recipients: 2500, Period: Duration(3600e9)},
			PerSenderDomain: Limit{Messages: 2000, Recipients: 10000, Period: Duration(3600e9)},
			Connections:     ConnLimit{Count: 60, Period: Duration(60e9)},
			MaxBuckets:      100000,
		},
		SenderPolicy: SenderPolicyFilter{Fixups: true},
		Milter:       MilterFilter{ConnectTimeout: Duration(5e9), Timeout: Duration(30e9)},
	}
}

// filterNames are the names a listener's filters list may hold; every one
// has an entry in filterResults.
var filterNames = map[string]bool{
	"spf": true, "dkim_verify": true, "dmarc": true, "arc_verify": true, "ratelimit": true,
	"sender_policy": true, "milter": true, "dkim_sign": true,
}

// Known reports whether name is a filter a listener may list.
func (f *Filters) Known(name string) bool { return filterNames[name] }

// FilterNames lists every filter name, sorted.
func FilterNames() []string {
	names := make([]string, 0, len(filterNames))
	for n := range filterNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (f *Filters) validate(v *Validator, c *Config) {
	validateActions(v, "filters.spf.actions", "spf", f.SPF.Actions)
	validateActions(v, "filters.dkim_verify.actions", "dkim_verify", f.DKIMVerify.Actions)
	validateActions(v, "filters.dmarc.actions", "dmarc", f.DMARC.Actions)
	validateActions(v, "filters.arc_verify.actions", "arc_verify", f.ARCVerify.Actions)
	positiveDuration(v, "filters.arc_verify.timeout", f.ARCVerify.Timeout)
	for i, d := range f.DMARC.TrustedARCSealers {
		if !IsDomain(d) {
			v.Errorf(fmt.Sprintf("filters.dmarc.trusted_arc_sealers[%d]", i), "%q is not a domain; write the d= domain of a forwarder's ARC-Seal, such as lists.example.org", d)
		}
	}
	validateActions(v, "filters.ratelimit.actions", "ratelimit", f.RateLimit.Actions)
	validateActions(v, "filters.sender_policy.actions", "sender_policy", f.SenderPolicy.Actions)
	validateActions(v, "filters.milter.actions", "milter", f.Milter.Actions)
	positiveDuration(v, "filters.spf.timeout", f.SPF.Timeout)
	positiveDuration(v, "filters.dkim_verify.timeout", f.DKIMVerify.Timeout)
	positiveDuration(v, "filters.dmarc.timeout", f.DMARC.Timeout)
	if f.DKIMVerify.MaxSignatures < 1 || f.DKIMVerify.MaxSignatures > 50 {
		v.Errorf("filters.dkim_verify.max_signatures", "%d is out of range; write a number from 1 to 50, such as 5", f.DKIMVerify.MaxSignatures)
	}
	f.RateLimit.validate(v)
	used := f.validateListenerOrder(v, c)
	if used["milter"] || f.Milter.Address != "" {
		f.Milter.validate(v)
	}
	if used["dkim_sign"] || len(f.DKIMSign.Keys) > 0 {
		f.DKIMSign.validate(v, used["dkim_sign"])
	}
}

func validateActions(v *Validator, path, filter string, a Actions) {
	results := filterResults[filter]
	for result, act := range a {
		p := path + "." + result
		if _, ok := results[result]; !ok {
			v.Errorf(p, "%q is not a result of the %s filter; write one of %s", result, filter, strings.Join(sortedNames(results), ", "))
			continue
		}
		switch act {
		case ActionAccept, ActionTag, ActionQuarantine, ActionTempfail, ActionReject:
		case ActionDiscard:
			if filter != "milter" {
				v.Errorf(p, "discard is only for the milter filter; write accept, tag, quarantine, tempfail or reject")
			}
		default:
			v.Errorf(p, "%q is not an action; write accept, tag, quarantine, tempfail or reject", act)
		}
	}
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func positiveDuration(v *Validator, path string, d Duration) {
	if d.D() <= 0 {
		v.Errorf(path, "must be more than 0; write a duration such as 20s")
	}
}

// validateListenerOrder checks the filter lists that need other filters
// and returns the set of filters some listener uses.
func (f *Filters) validateListenerOrder(v *Validator, c *Config) map[string]bool {
	used := map[string]bool{}
	for i, l := range c.Listeners {
		pos := map[string]int{}
		for j, name := range l.Filters {
			p := fmt.Sprintf("listeners[%d].filters[%d]", i, j)
			if _, dup := pos[name]; dup {
				v.Errorf(p, "%s is listed twice; list each filter once", name)
			}
			pos[name] = j
			used[name] = true
		}
		if j, ok := pos["dkim_sign"]; ok && l.Protocol != ProtoSMTP {
			if _, ok := pos["sender_policy"]; !ok {
				v.Errorf(fmt.Sprintf("listeners[%d].filters[%d]", i, j), "dkim_sign would sign whatever address a logged-in account writes; list sender_policy too")
			}
		}
		if j, ok := pos["dmarc"]; ok {
			p := fmt.Sprintf("listeners[%d].filters[%d]", i, j)
			for _, need := range []string{"spf", "dkim_verify"} {
				if k, ok := pos[need]; !ok || k > j {
					v.Errorf(p, "dmarc uses the results of %s; list %s before dmarc", need, need)
				}
			}
			if k, ok := pos["arc_verify"]; len(f.DMARC.TrustedARCSealers) > 0 && (!ok || k > j) {
				v.Errorf(p, "filters.dmarc.trusted_arc_sealers needs the ARC result; list arc_verify before dmarc")
			}
		}
	}
	return used
}

func (r *RateLimitFilter) validate(v *Validator) {
	r.PerAccount.validate(v, "filters.ratelimit.per_account")
	r.PerIP.validate(v, "filters.ratelimit.per_ip")
	r.PerSenderDomain.validate(v, "filters.ratelimit.per_sender_domain")
	r.PerRcptDomain.validate(v, "filters.ratelimit.per_recipient_domain")
	for name, l := range r.Accounts {
		if l.Period == 0 {
			l.Period = r.PerAccount.Period // an override without period keeps per_account's
		}
		l.validate(v, "filters.ratelimit.accounts."+name)
	}
	if r.Connections.Count < 0 {
		v.Errorf("filters.ratelimit.connections_per_ip.count", "%d is negative; write 0 for no limit or a number such as 60", r.Connections.Count)
	}
	if r.Connections.Count > 0 && r.Connections.Period.D() <= 0 {
		v.Errorf("filters.ratelimit.connections_per_ip.period", "must be more than 0; write a duration such as 1m")
	}
	if r.MaxBuckets < 100 {
		v.Errorf("filters.ratelimit.max_buckets", "%d is too small to be useful; write 100 or more, such as 100000", r.MaxBuckets)
	}
}

func (l Limit) validate(v *Validator, path string) {
	if l.Messages < 0 {
		v.Errorf(path+".messages", "%d is negative; write 0 for no limit or a number such as 1000", l.Messages)
	}
	if l.Recipients < 0 {
		v.Errorf(path+".recipients", "%d is negative; write 0 for no limit or a number such as 5000", l.Recipients)
	}
	if (l.Messages > 0 || l.Recipients > 0) && l.Period.D() <= 0 {
		v.Errorf(path+".period", "must be more than 0; write a duration such as 1h")
	}
}

func (m *MilterFilter) validate(v *Validator) {
	switch {
	case m.Address == "":
		v.Errorf("filters.milter.address", "missing; write the milter's host:port such as 127.0.0.1:11332, or unix:/path/to/socket")
	case strings.HasPrefix(m.Address, "unix:"):
		if strings.TrimPrefix(m.Address, "unix:") == "" {
			v.Errorf("filters.milter.address", "unix: needs a path; write unix:/path/to/socket")
		}
	default:
		if _, port, err := net.SplitHostPort(m.Address); err != nil || port == "" {
			v.Errorf("filters.milter.address", "%q is not host:port; write an address such as 127.0.0.1:11332, or unix:/path/to/socket", m.Address)
		}
	}
	positiveDuration(v, "filters.milter.connect_timeout", m.ConnectTimeout)
	positiveDuration(v, "filters.milter.timeout", m.Timeout)
}

func (d *DKIMSignFilter) validate(v *Validator, used bool) {
	if used && len(d.Keys) == 0 {
		v.Errorf("filters.dkim_sign.keys", "missing; list at least one key (domain, selector, file); `mailgate dkim keygen DOMAIN` makes one")
	}
	domains := map[string]bool{}
	seen := map[string]bool{}
	for i, k := range d.Keys {
		p := fmt.Sprintf("filters.dkim_sign.keys[%d]", i)
		if !IsDomain(k.Domain) {
			v.Errorf(p+".domain", "%q is not a domain; write the domain to sign for, such as example.com", k.Domain)
		}
		if !IsDomain(k.Selector) {
			v.Errorf(p+".selector", "%q is not a selector; write a DNS label such as mail2025", k.Selector)
		}
		id := strings.ToLower(k.Domain + "/" + k.Selector)
		if seen[id] {
			v.Errorf(p+".selector", "selector %q of %s is listed twice; give each key its own selector", k.Selector, k.Domain)
		}
		seen[id] = true
		domains[strings.ToLower(k.Domain)] = true
		if k.File == "" {
			v.Errorf(p+".file", "missing; write the path of the PEM private key")
		} else if err := checkDKIMKey(k.File); err != "" {
			v.Errorf(p+".file", "%s", err)
		}
	}
	if d.DefaultDomain != "" && !domains[strings.ToLower(d.DefaultDomain)] {
		v.Errorf("filters.dkim_sign.default_domain", "%q has no key in filters.dkim_sign.keys; add a key for it or write one of the keys' domains", d.DefaultDomain)
	}
}

// checkDKIMKey returns what is wrong with a signing key file, or "".
func checkDKIMKey(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("cannot read key file %q (%s); write the path of a readable PEM private key", name, reason(err))
	}
	_, err = ParseDKIMKey(data)
	if err != nil {
		return fmt.Sprintf("key file %q: %v", name, err)
	}
	return ""
}

// ParseDKIMKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1
// RSA. RSA keys must have at least 1024 bits (RFC 8301).
func ParseDKIMKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not PEM; write the path of a PEM private key made by `mailgate dkim keygen`")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key; use a PRIVATE KEY or RSA PRIVATE KEY file", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("unreadable private key (%v); make a new one with `mailgate dkim keygen`", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key has %d bits; RFC 8301 needs at least 1024, use 2048", k.N.BitLen())
		}
	case ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("key type %T is not supported; use RSA or Ed25519", key)
	}
	return key, nil
}
