package arc

import (
	"crypto"
	"errors"
	"strconv"
	"strings"
	"time"
)

// amsHeaders are the fields an ARC-Message-Signature covers when present:
// those that say who wrote the message and what it is (RFC 6376 section
// 5.4.1), plus the DKIM signatures. Trace fields are left out, as each hop
// adds them.
var amsHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To",
	"References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
	"List-Id", "List-Unsubscribe", "DKIM-Signature",
}

// Sealer adds ARC sets with one domain's key.
type Sealer struct {
	Domain, Selector string
	Key              crypto.Signer // RSA
	// AuthServID names this server in the ARC-Authentication-Results.
	AuthServID string
	Now        func() time.Time
}

// Seal returns the three fields of the next ARC set of msg (CRLF line
// ends), to be put on top of it. results is the body of the
// Authentication-Results this server wrote on arrival, without its
// authserv-id ("spf=pass smtp.mailfrom=...; dkim=..."), and cv the status
// of the chain already on msg (Verify). A chain at the instance limit is
// not sealed again.
func (s *Sealer) Seal(msg []byte, results, cv string) ([]byte, error) {
	fields, body := split(msg)
	inst := nextInstance(fields)
	if inst > maxInstance {
		return nil, errors.New("arc: the chain is at its limit of 50 sets")
	}
	if inst == 1 {
		cv = None
	} else if cv != Pass {
		cv = Fail
	}
	t := strconv.FormatInt(s.now().Unix(), 10)
	i := strconv.Itoa(inst)
	aar := "i=" + i + "; " + s.AuthServID + ";\r\n\t" + strings.TrimSpace(results)
	if strings.TrimSpace(results) == "" {
		aar = "i=" + i + "; " + s.AuthServID + "; none"
	}
	ams, err := s.signAMS(fields, body, i, t)
	if err != nil {
		return nil, err
	}
	mine := set{aar: &field{Name: hAAR, Raw: []byte(hAAR + ": " + aar + "\r\n")},
		ams: &field{Name: hAMS, Raw: []byte(hAMS + ": " + ams + "\r\n")}}
	var prior []set
	if cv == Pass {
		prior, _ = sets(fields)
	}
	seal := "i=" + i + "; a=rsa-sha256; cv=" + cv + "; d=" + s.Domain + "; s=" + s.Selector + "; t=" + t + ";\r\n\tb="
	b, err := sign(s.Key, sealData(append(prior, mine), seal))
	if err != nil {
		return nil, err
	}
	return []byte(hSeal + ": " + seal + fold(b) + "\r\n" + string(mine.ams.Raw) + string(mine.aar.Raw)), nil
}

func (s *Sealer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// signAMS returns the value of the ARC-Message-Signature.
func (s *Sealer) signAMS(fields []field, body []byte, i, t string) (string, error) {
	var h []string
	for _, name := range amsHeaders {
		for _, f := range fields {
			if strings.EqualFold(f.Name, name) {
				h = append(h, name)
			}
		}
	}
	v := "i=" + i + "; a=rsa-sha256; c=relaxed/relaxed; d=" + s.Domain + "; s=" + s.Selector +
		"; t=" + t + ";\r\n\th=" + strings.Join(h, ":") + ";\r\n\tbh=" + bodyHash(body, false) + ";\r\n\tb="
	self := field{Name: hAMS, Raw: []byte(hAMS + ": " + v + "\r\n")}
	b, err := sign(s.Key, amsData(fields, h, self, false))
	if err != nil {
		return "", err
	}
	return v + fold(b), nil
}

// nextInstance is one more than the highest i= on the message.
func nextInstance(fields []field) int {
	top := 0
	for _, f := range fields {
		if slot := slotOf(f.Name); slot != "" {
			if n, ok := instanceOf(slot, f.RawValue()); ok && n > top {
				top = n
			}
		}
	}
	return top + 1
}

// fold breaks a base64 value into lines of 72 characters, so that no
// header line passes the 78 characters RFC 5322 recommends by much.
func fold(b string) string {
	var out strings.Builder
	for len(b) > 72 {
		out.WriteString(b[:72] + "\r\n\t")
		b = b[72:]
	}
	out.WriteString(b)
	return out.String()
}

// amsData is what an ARC-Message-Signature signs: the fields named in h=,
// each taken from the bottom up, then the signature field itself (self)
// with an empty b= and no final CRLF; simple is c=simple for the header.
func amsData(fields []field, h []string, self field, simple bool) string {
	canon := func(f field) string { return relaxedHeader(f.Name, f.RawValue()) }
	if simple {
		canon = func(f field) string { return string(f.Raw) }
	}
	var b strings.Builder
	used := make([]bool, len(fields))
	for _, name := range h {
		for k := len(fields) - 1; k >= 0; k-- {
			if !used[k] && strings.EqualFold(fields[k].Name, strings.TrimSpace(name)) {
				used[k] = true
				b.WriteString(canon(fields[k]))
				break
			}
		}
	}
	self.Raw = []byte(withoutB(string(self.Raw)))
	return b.String() + strings.TrimRight(canon(self), "\r\n")
}

// sealData is what the ARC-Seal of the last set in ss signs: every set
// in order of instance, each as AAR, AMS, seal; the last seal with an
// empty b= (sealValue) and no final CRLF.
func sealData(ss []set, sealValue string) string {
	var b strings.Builder
	for n, s := range ss {
		b.WriteString(relaxedHeader(hAAR, s.aar.RawValue()))
		b.WriteString(relaxedHeader(hAMS, s.ams.RawValue()))
		if n < len(ss)-1 {
			b.WriteString(relaxedHeader(hSeal, s.seal.RawValue()))
		}
	}
	return b.String() + strings.TrimSuffix(relaxedHeader(hSeal, withoutB(sealValue)), "\r\n")
}
