// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461): the _mta-sts TXT record, the policy fetched over
// HTTPS with a verified certificate, a cache on disk that outlives
// restarts, and the MX matching rule. Opportunistic STARTTLS can be
// stripped by anyone on the path; a domain that publishes an enforced
// policy tells us to refuse that downgrade.
package mtasts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is what the policy domain asks senders to do (RFC 8461 §5).
type Mode string

// The three modes of RFC 8461 §3.2.
const (
	Enforce Mode = "enforce"
	Testing Mode = "testing"
	None    Mode = "none"
)

// MaxPolicySize bounds the policy body; RFC 8461 §3.3 says 64 KiB.
const MaxPolicySize = 64 << 10

// maxMaxAge is RFC 8461 §3.2's upper bound for max_age (about a year).
const maxMaxAge = 31557600

// Policy is one parsed policy with what the cache needs to keep it.
type Policy struct {
	Domain  string        `json:"domain"`
	ID      string        `json:"id"` // from the TXT record it was fetched under
	Mode    Mode          `json:"mode"`
	MX      []string      `json:"mx"`
	MaxAge  time.Duration `json:"max_age"`
	Fetched time.Time     `json:"fetched"`
	// Text is the policy as served, which TLS-RPT reports quote.
	Text string `json:"text"`
}

// Expired tells whether the policy's max_age has run out at now.
func (p *Policy) Expired(now time.Time) bool { return !now.Before(p.Fetched.Add(p.MaxAge)) }

// Parse reads a policy body (RFC 8461 §3.2): "key: value" lines ended by
// CRLF or LF, unknown keys ignored, version STSv1, a known mode, max_age
// in seconds, and at least one mx unless the mode is none.
func Parse(body []byte) (*Policy, error) {
	if len(body) > MaxPolicySize {
		return nil, fmt.Errorf("policy is %d bytes, more than the %d RFC 8461 allows", len(body), MaxPolicySize)
	}
	p := &Policy{Text: string(body)}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1024), MaxPolicySize)
	for sc.Scan() {
		if err := p.field(strings.TrimRight(sc.Text(), "\r"), seen); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return p, p.complete(seen)
}

func (p *Policy) field(line string, seen map[string]bool) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return fmt.Errorf("policy line %q has no colon", line)
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if seen[k] && k != "mx" {
		return fmt.Errorf("policy repeats the %q field", k)
	}
	seen[k] = true
	switch k {
	case "version":
		if v != "STSv1" {
			return fmt.Errorf("policy version %q is not STSv1", v)
		}
	case "mode":
		p.Mode = Mode(v)
		if p.Mode != Enforce && p.Mode != Testing && p.Mode != None {
			return fmt.Errorf("policy mode %q is not enforce, testing or none", v)
		}
	case "max_age":
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > maxMaxAge {
			return fmt.Errorf("policy max_age %q is not a number of seconds up to %d", v, maxMaxAge)
		}
		p.MaxAge = time.Duration(n) * time.Second
	case "mx":
		if v == "" {
			return errors.New("policy has an empty mx field")
		}
		p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
	}
	return nil
}

func (p *Policy) complete(seen map[string]bool) error {
	for _, k := range []string{"version", "mode", "max_age"} {
		if !seen[k] {
			return fmt.Errorf("policy has no %s field", k)
		}
	}
	if p.Mode != None && len(p.MX) == 0 {
		return fmt.Errorf("policy in mode %s names no mx", p.Mode)
	}
	return nil
}

// MatchMX tells whether the MX host name is one the policy allows
// (RFC 8461 §4.1): an exact match, or "*.example.com" matching exactly
// one more label on the left. Case and a trailing dot do not matter.
func (p *Policy) MatchMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if matchPattern(pat, host) {
			return true
		}
	}
	return false
}

func matchPattern(pat, host string) bool {
	rest, wild := strings.CutPrefix(pat, "*.")
	if !wild {
		return pat == host
	}
	label, parent, ok := strings.Cut(host, ".")
	return ok && label != "" && parent == rest
}

// ParseTXT finds the policy id in the TXT strings of _mta-sts.DOMAIN
// (RFC 8461 §3.1). Records that do not start with v=STSv1 are not ours
// and are skipped; more than one of ours is an error, as is none.
func ParseTXT(records []string) (string, error) {
	var ids []string
	for _, r := range records {
		if !strings.HasPrefix(r, "v=STSv1;") && r != "v=STSv1" {
			continue
		}
		id, err := txtID(r)
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return "", ErrNoRecord
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("_mta-sts has %d STSv1 records; RFC 8461 §3.1 allows one", len(ids))
}

// ErrNoRecord means the domain publishes no MTA-STS TXT record.
var ErrNoRecord = errors.New("no v=STSv1 TXT record")

func txtID(r string) (string, error) {
	for _, f := range strings.Split(r, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			if v == "" || len(v) > 32 || strings.IndexFunc(v, notAlnum) >= 0 {
				return "", fmt.Errorf("_mta-sts id %q is not 1-32 letters and digits", v)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("_mta-sts record %q has no id", r)
}

func notAlnum(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}
