package filters

import (
	"bytes"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/authres"

	"mailgate/internal/mailmsg"
	"mailgate/internal/msgheader"
)

// field is one header field as it appears in the message.
type field = msgheader.Field

// headerFields splits the header of raw into fields and returns the offset
// where the body starts (after the empty line, or len(raw) without one).
func headerFields(raw []byte) ([]field, int) { return msgheader.Split(raw) }

// headerValues returns the values of every field called name, top first.
func headerValues(raw []byte, name string) []string {
	fields, _ := headerFields(raw)
	var out []string
	for _, f := range fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, f.Value())
		}
	}
	return out
}

// fromDomain returns the domain of the single address in the header From,
// or "" when there is no From, several, or it does not parse.
func fromAddress(raw []byte) string {
	froms := headerValues(raw, "From")
	if len(froms) != 1 {
		return ""
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil || len(list) != 1 {
		return ""
	}
	return list[0].Address
}

// removeOurAuthResults drops every Authentication-Results field that claims
// our authserv-id (RFC 8601 section 5): only we may write those.
func removeOurAuthResults(raw []byte, authservID string) []byte {
	fields, body := headerFields(raw)
	found := false
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Authentication-Results") && claimsID(f.Value(), authservID) {
			found = true
		}
	}
	if !found {
		return raw
	}
	out := make([]byte, 0, len(raw))
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Authentication-Results") && claimsID(f.Value(), authservID) {
			continue
		}
		out = append(out, f.Raw...)
	}
	return append(out, raw[headerEnd(fields, body, raw):]...)
}

// headerEnd is where the empty line after the header starts.
func headerEnd(fields []field, body int, raw []byte) int {
	n := 0
	for _, f := range fields {
		n += len(f.Raw)
	}
	if n > body {
		return body
	}
	return n
}

func claimsID(value, id string) bool {
	v, _, _ := strings.Cut(value, ";")
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, " \t("); i >= 0 {
		v = v[:i]
	}
	return strings.EqualFold(strings.TrimSuffix(v, "."), strings.TrimSuffix(id, "."))
}

// traceFields renders what the checks found: Authentication-Results,
// Received-SPF and X-Mailgate-Verdict for tagged results.
func (t *Txn) traceFields() []byte {
	var b bytes.Buffer
	st := t.st
	if len(st.auth) > 0 {
		b.WriteString("Authentication-Results: " + t.chain.authservID)
		for _, r := range st.auth {
			s := authres.Format("x", []authres.Result{r})
			b.WriteString(";\r\n\t" + mailmsg.Clean(strings.TrimSpace(strings.TrimPrefix(s, "x;"))))
		}
		b.WriteString("\r\n")
	}
	for _, f := range st.fields {
		b.WriteString(f + "\r\n")
	}
	if len(st.tags) > 0 {
		b.WriteString("X-Mailgate-Verdict: " + strings.Join(st.tags, ", ") + "\r\n")
	}
	return b.Bytes()
}
