// Package arc adds and checks Authenticated Received Chain sets (RFC
// 8617). Delivery seals forwarded mail with the forwarding domain's DKIM
// key, recording what mailgate saw on arrival; the filters verify the
// chains of incoming mail and report arc=pass, fail or none.
package arc

import (
	"sort"
	"strconv"
	"strings"
)

// Header field names of an ARC set.
const (
	hAAR  = "ARC-Authentication-Results"
	hAMS  = "ARC-Message-Signature"
	hSeal = "ARC-Seal"
)

// maxInstance is the highest i= RFC 8617 section 4.2.1 allows.
const maxInstance = 50

// Chain validation results (cv= of RFC 8617 section 4.1.3), also the
// arc= results of Authentication-Results.
const (
	None = "none"
	Pass = "pass"
	Fail = "fail"
)

// set is one instance's three header fields.
type set struct {
	aar, ams, seal *field
}

// sets groups the ARC fields of a header by instance. ok is false when a
// field has no valid i=, an instance has a field twice or misses one, or
// the instances are not 1..N.
func sets(fields []field) (out []set, ok bool) {
	byI := map[int]*set{}
	for i := range fields {
		f := &fields[i]
		slot := slotOf(f.Name)
		if slot == "" {
			continue
		}
		inst, good := instanceOf(slot, f.RawValue())
		if !good {
			return nil, false
		}
		s := byI[inst]
		if s == nil {
			s = &set{}
			byI[inst] = s
		}
		p := map[string]**field{hAAR: &s.aar, hAMS: &s.ams, hSeal: &s.seal}[slot]
		if *p != nil {
			return nil, false
		}
		*p = f
	}
	keys := make([]int, 0, len(byI))
	for k := range byI {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for n, k := range keys {
		s := byI[k]
		if k != n+1 || s.aar == nil || s.ams == nil || s.seal == nil {
			return nil, false
		}
		out = append(out, *s)
	}
	return out, true
}

// slotOf returns the canonical ARC field name of name, or "".
func slotOf(name string) string {
	for _, h := range []string{hAAR, hAMS, hSeal} {
		if strings.EqualFold(name, h) {
			return h
		}
	}
	return ""
}

// instanceOf reads i= from a field value: the only tag of an AAR, before
// the authserv-id; one tag among others in a signature or seal.
func instanceOf(slot, value string) (int, bool) {
	v := ""
	if slot == hAAR {
		first, _, _ := strings.Cut(value, ";")
		k, val, ok := strings.Cut(first, "=")
		if !ok || strings.TrimSpace(k) != "i" {
			return 0, false
		}
		v = val
	} else {
		t, ok := tags(value)
		if !ok {
			return 0, false
		}
		v = t["i"]
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > maxInstance {
		return 0, false
	}
	return n, true
}

// hasARC reports whether the header has any ARC field.
func hasARC(fields []field) bool {
	for _, f := range fields {
		if slotOf(f.Name) != "" {
			return true
		}
	}
	return false
}

// OwnResults returns the results of the topmost Authentication-Results
// field of msg written by authservID (after its "authserv-id;"), for the
// ARC-Authentication-Results of a new set; "" when there is none.
func OwnResults(msg []byte, authservID string) string {
	fields, _ := split(msg)
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "Authentication-Results") {
			continue
		}
		id, rest, ok := strings.Cut(f.RawValue(), ";")
		if ok && strings.EqualFold(strings.TrimSpace(id), authservID) {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}
