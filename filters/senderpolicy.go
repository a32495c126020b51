package filters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

// senderPolicyFilter keeps an authenticated account to its own addresses,
// in MAIL FROM and in the header From, and repairs submitted messages per
// RFC 6409 section 8.
type senderPolicyFilter struct {
	hostname string
	fixups   bool
	sendAs   func(account, addr string) bool
	now      func() time.Time
}

func newSenderPolicy(cfg *config.Config, deps Deps) *senderPolicyFilter {
	return &senderPolicyFilter{hostname: cfg.Hostname, fixups: cfg.Filters.SenderPolicy.Fixups, sendAs: deps.SendAs, now: deps.Now}
}

func (f *senderPolicyFilter) Name() string             { return "sender_policy" }
func (f *senderPolicyFilter) Begin(conn *Conn) Session { return f }
func (f *senderPolicyFilter) Close()                   {}

// CheckMail allows the null sender (bounces from applications) and the
// account's own addresses.
func (f *senderPolicyFilter) CheckMail(ctx context.Context, st *State) Verdict {
	a := st.Conn.Account
	if a == "" {
		return Verdict{Result: "none"}
	}
	if st.From == "" || f.sendAs(a, st.From) {
		return Verdict{Result: "pass"}
	}
	return forbidden(a, st.From, "MAIL FROM")
}

// CheckData checks every header From address, then adds a missing
// Message-ID or Date.
func (f *senderPolicyFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	a := st.Conn.Account
	if a == "" {
		return Verdict{Result: "none"}
	}
	froms := headerValues(msg.Header, "From")
	if len(froms) != 1 {
		return Verdict{Result: "forbidden", Reason: fmt.Sprintf("%d From fields", len(froms)), Reply: &smtp.SMTPError{
			Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "The message needs exactly one From header field, with your address"}}
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil {
		return Verdict{Result: "forbidden", Reason: "unparsable From", Reply: &smtp.SMTPError{
			Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "The From header field does not parse (RFC 5322); write it as Name <you@example.com>"}}
	}
	for _, addr := range list {
		if !f.sendAs(a, addr.Address) {
			return forbidden(a, addr.Address, "header From")
		}
	}
	if f.fixups {
		msg.Prepend = append(msg.Prepend, f.repairs(msg.Header)...)
	}
	return Verdict{Result: "pass"}
}

// repairs returns the Date and Message-ID fields the message lacks.
func (f *senderPolicyFilter) repairs(raw []byte) []byte {
	var out []byte
	if len(headerValues(raw, "Date")) == 0 {
		out = append(out, "Date: "+f.now().Format(time.RFC1123Z)+"\r\n"...)
	}
	if len(headerValues(raw, "Message-ID")) == 0 {
		b := make([]byte, 12)
		rand.Read(b)
		out = append(out, "Message-ID: <"+hex.EncodeToString(b)+"@"+f.hostname+">\r\n"...)
	}
	return out
}

func forbidden(account, addr, where string) Verdict {
	return Verdict{Result: "forbidden", Reason: where + " " + addr, Reply: &smtp.SMTPError{
		Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("%s <%s> is not an address of %s; use your own address, an alias or a send-as address", where, clean(addr), strings.ToLower(clean(account)))}}
}
