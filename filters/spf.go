package filters

import (
	"context"
	"fmt"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-smtp"

	"mailgate/config"
	"mailgate/internal/mailmsg"
	"mailgate/resolver"
)

// spfOutcome is the SPF result DMARC aligns against.
type spfOutcome struct {
	Result string
	Domain string // MAIL FROM domain, or HELO for the null sender
}

// spfFilter checks the client IP against the sender domain's SPF record at
// MAIL FROM (RFC 7208), so a failure is refused before any data is sent.
type spfFilter struct {
	hostname string
	resolver resolver.Resolver
	timeout  time.Duration
}

func newSPF(c *SPFConfig, cfg *config.Config, deps Deps) (*spfFilter, error) {
	return &spfFilter{hostname: cfg.Hostname, resolver: deps.Resolver, timeout: c.Timeout.D()}, nil
}

func (f *spfFilter) Name() string             { return "spf" }
func (f *spfFilter) Begin(conn *Conn) Session { return f }
func (f *spfFilter) Close()                   {}

// CheckMail evaluates SPF for MAIL FROM, or for the HELO name when the
// reverse-path is null (RFC 7208 section 2.4). Authenticated sessions are
// not checked: their IP says nothing about the sender's domain.
func (f *spfFilter) CheckMail(ctx context.Context, st *State) Verdict {
	if st.Conn.Account != "" || st.Conn.IP == nil {
		return Verdict{}
	}
	helo := st.Conn.Helo
	sender, identity := st.From, "mailfrom"
	if sender == "" {
		sender, identity = "postmaster@"+helo, "helo"
	}
	domain := mailmsg.Domain(sender)
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	res, err := spf.CheckHostWithSender(st.Conn.IP, helo, sender,
		spf.WithContext(ctx), spf.WithResolver(f.resolver))
	result := string(res)
	st.SPF = &spfOutcome{Result: result, Domain: domain}
	ar := &authres.SPFResult{Value: authres.ResultValue(result)}
	if identity == "helo" {
		ar.Helo = helo
	} else {
		ar.From = sender
	}
	st.auth = append(st.auth, ar)
	st.fields = append(st.fields, f.receivedSPF(st, result, sender, identity))
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	return Verdict{Result: result, Reply: spfReply(result, st.Conn.IP.String(), domain), Reason: reason}
}

// receivedSPF renders the Received-SPF field of RFC 7208 section 9.1.
func (f *spfFilter) receivedSPF(st *State, result, sender, identity string) string {
	ip := st.Conn.IP.String()
	comment := fmt.Sprintf("%s: domain of %s", f.hostname, mailmsg.Domain(sender))
	switch result {
	case "pass":
		comment += " designates " + ip + " as permitted sender"
	case "fail", "softfail":
		comment += " does not designate " + ip + " as permitted sender"
	case "neutral", "none":
		comment += " does not say whether " + ip + " may send"
	default:
		comment += " could not be checked"
	}
	return mailmsg.Clean(fmt.Sprintf("Received-SPF: %s (%s) client-ip=%s; envelope-from=%q; helo=%q; receiver=%s; identity=%s",
		result, comment, ip, sender, st.Conn.Helo, f.hostname, identity))
}

// spfReply says what the sender's domain must fix (RFC 7372 codes).
func spfReply(result, ip, domain string) *smtp.SMTPError {
	switch result {
	case "temperror":
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 24},
			Message: fmt.Sprintf("SPF check of %s failed with a temporary DNS error; try again later", domain)}
	case "permerror":
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 24},
			Message: fmt.Sprintf("The SPF record of %s is invalid (RFC 7208); its owner must fix it", domain)}
	}
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 23},
		Message: fmt.Sprintf("SPF %s: %s is not allowed to send mail for %s; send through a server listed in its SPF record", result, ip, domain)}
}
