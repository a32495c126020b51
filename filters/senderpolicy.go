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
	"mailgate/internal/mailmsg"
)

// senderPolicyFilter keeps a logged-in account to its own addresses: the
// envelope sender, every address of the header From and the Sender, each
// must be one Deps.SendAs allows. It then repairs submitted messages per
// RFC 6409 section 8 (Date, Message-ID). Decorators such as dkim_sign run
// only after it passed, so nothing it refuses is ever signed.
type senderPolicyFilter struct {
	hostname string
	fixups   bool
	sendAs   func(account, addr string) bool
	now      func() time.Time
}

func newSenderPolicy(c *SenderPolicyConfig, cfg *config.Config, deps Deps) (*senderPolicyFilter, error) {
	return &senderPolicyFilter{hostname: cfg.Hostname, fixups: c.Fixups, sendAs: deps.SendAs, now: deps.Now}, nil
}

func (f *senderPolicyFilter) Name() string             { return "sender_policy" }
func (f *senderPolicyFilter) Begin(conn *Conn) Session { return f }
func (f *senderPolicyFilter) Close()                   {}

// CheckMail allows the account's own addresses only. The null sender is
// refused too: a logged-in application has an address to be answered at,
// and bounces are mailgate's own job.
func (f *senderPolicyFilter) CheckMail(ctx context.Context, st *State) Verdict {
	a := st.Conn.Account
	if a == "" {
		return Verdict{Result: "none"}
	}
	if st.From == "" {
		return Verdict{Result: "forbidden", Reason: "MAIL FROM <>", Reply: &smtp.SMTPError{
			Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: "MAIL FROM <> is not allowed after login; use your own address, an alias or a send-as address"}}
	}
	if f.sendAs(a, st.From) {
		return Verdict{Result: "pass"}
	}
	return forbidden(a, st.From, "MAIL FROM")
}

// CheckData checks every address of the header From and of the Sender,
// then adds a missing Message-ID or Date.
func (f *senderPolicyFilter) CheckData(ctx context.Context, st *State, msg *Message) Verdict {
	a := st.Conn.Account
	if a == "" {
		return Verdict{Result: "none"}
	}
	froms := headerValues(msg.Header, "From")
	if len(froms) != 1 {
		return malformed(fmt.Sprintf("%d From fields", len(froms)), "The message needs exactly one From header field, with your address")
	}
	if v := f.checkField(a, "From", froms[0]); v.Result != "" {
		return v
	}
	switch senders := headerValues(msg.Header, "Sender"); len(senders) {
	case 0:
	case 1:
		if v := f.checkField(a, "Sender", senders[0]); v.Result != "" {
			return v
		}
	default:
		return malformed(fmt.Sprintf("%d Sender fields", len(senders)), "The message may have one Sender header field at most (RFC 5322 section 3.6.2)")
	}
	if f.fixups {
		msg.Prepend = append(msg.Prepend, f.repairs(msg.Header)...)
	}
	return Verdict{Result: "pass"}
}

// checkField parses the value of the header field name and checks each of
// its addresses; a zero Verdict means every one is the account's.
func (f *senderPolicyFilter) checkField(account, name, value string) Verdict {
	list, err := mail.ParseAddressList(value)
	if err != nil {
		return malformed("unparsable "+name, "The "+name+" header field does not parse (RFC 5322); write it as Name <you@example.com>")
	}
	if len(list) == 0 { // an empty group, "undisclosed:;"
		return malformed("no address in "+name, "The "+name+" header field has no address; write it as Name <you@example.com>")
	}
	for _, addr := range list {
		if !f.sendAs(account, addr.Address) {
			return forbidden(account, addr.Address, "header "+name)
		}
	}
	return Verdict{}
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
		Message: fmt.Sprintf("%s <%s> is not an address of %s; use your own address, an alias or a send-as address", where, mailmsg.Clean(addr), strings.ToLower(mailmsg.Clean(account)))}}
}

// malformed refuses a message whose sender fields cannot be checked.
func malformed(reason, text string) Verdict {
	return Verdict{Result: "forbidden", Reason: reason, Reply: &smtp.SMTPError{
		Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: text}}
}
