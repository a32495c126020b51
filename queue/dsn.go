package queue

// The DSN builder: RFC 3464 delivery status notifications (RFC 6533 when
// an address is not ASCII), sent from <> back to a message's sender.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// DSN actions (RFC 3464 §2.3.3) that mailgate reports.
const (
	DSNFailed    = "failed"
	DSNDelayed   = "delayed"
	DSNDelivered = "delivered"
	// DSNRelayed: handed to a server that does not offer DSN, so no
	// report will come from further on (RFC 3464 section 2.3.3).
	DSNRelayed = "relayed"
)

// DSNInput is everything one report says; the queue fills it from the
// envelope and the recipients' states. All times are shown as given.
type DSNInput struct {
	ReportingMTA string // our host name
	Sender       string // the original envelope sender: the report goes there
	EnvID        string // ENVID from MAIL FROM, if any
	Arrival      time.Time
	Ret          string // "FULL" returns the whole message, else headers only
	Original     []byte // the original message (CRLF)
	Now          time.Time
	Recipients   []DSNRecipient
}

// DSNRecipient is one recipient's block in the report.
type DSNRecipient struct {
	FinalRecipient string // the address we tried
	// OriginalRecipient is the ORCPT parameter ("rfc822;addr"), if any.
	OriginalRecipient string
	Action            string // DSNFailed, DSNDelayed, DSNDelivered or DSNRelayed
	Status            string // RFC 3463 code; empty: from the action
	RemoteMTA         string // host that answered, if any
	Diagnostic        string // the remote reply or our reason
	LastAttempt       time.Time
	WillRetryUntil    time.Time // for delays
}

// dsnDiagMax keeps a Diagnostic-Code line under the 998-octet limit.
const dsnDiagMax = 900

var dsnStatusRE = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3}$`)

// BuildDSN returns the report message, CRLF-terminated, ready to queue
// from the null reverse path to in.Sender. It refuses a report to <>,
// which would be a bounce of a bounce.
func BuildDSN(in DSNInput) ([]byte, error) {
	if in.Sender == "" {
		return nil, errors.New("dsn: no report is sent to the null reverse path")
	}
	if len(in.Recipients) == 0 {
		return nil, errors.New("dsn: no recipients to report on")
	}
	for _, r := range in.Recipients {
		if r.Action != DSNFailed && r.Action != DSNDelayed && r.Action != DSNDelivered && r.Action != DSNRelayed {
			return nil, fmt.Errorf("dsn: action %q is not failed, delayed, delivered or relayed", r.Action)
		}
	}
	global := !dsnASCII(in.Sender)
	for _, r := range in.Recipients {
		global = global || !dsnASCII(r.FinalRecipient) || !dsnASCII(r.OriginalRecipient)
	}
	tag := dsnTag(in)
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("dsn=" + tag[:24]); err != nil {
		return nil, err
	}
	dsnWriteHeader(&b, in, tag, mw.Boundary())
	if err := dsnHumanPart(mw, in); err != nil {
		return nil, err
	}
	if err := dsnStatusPart(mw, in, global); err != nil {
		return nil, err
	}
	if err := dsnOriginalPart(mw, in, global); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// dsnTag makes the boundary and Message-ID from the report's content, so
// the same input always gives the same bytes.
func dsnTag(in DSNInput) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", in.ReportingMTA, in.Sender, in.Now.UnixNano())
	h.Write(in.Original)
	for _, r := range in.Recipients {
		fmt.Fprintf(h, "\x00%s\x00%s", r.FinalRecipient, r.Action)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func dsnWriteHeader(b *bytes.Buffer, in DSNInput, tag, boundary string) {
	mta := dsnClean(in.ReportingMTA)
	fmt.Fprintf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", mta)
	fmt.Fprintf(b, "To: <%s>\r\n", dsnTrunc(dsnClean(in.Sender)))
	fmt.Fprintf(b, "Subject: %s\r\n", dsnSubject(in.Recipients))
	fmt.Fprintf(b, "Date: %s\r\n", in.Now.Format(time.RFC1123Z))
	fmt.Fprintf(b, "Message-ID: <%s.dsn@%s>\r\n", tag[:32], mta)
	if id := dsnMessageID(in.Original); id != "" {
		fmt.Fprintf(b, "In-Reply-To: %s\r\nReferences: %s\r\n", id, id)
	}
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", boundary)
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n")
}

// dsnSubject names the worst outcome in the report.
func dsnSubject(rs []DSNRecipient) string {
	worst := DSNDelivered
	for _, r := range rs {
		if r.Action == DSNFailed {
			worst = DSNFailed
		} else if r.Action == DSNDelayed && worst == DSNDelivered {
			worst = DSNDelayed
		}
	}
	switch worst {
	case DSNFailed:
		return "Undelivered Mail Returned to Sender"
	case DSNDelayed:
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

// dsnMessageID returns the original's Message-ID, if it has a sane one.
func dsnMessageID(raw []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(dsnHeaders(raw)))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(msg.Header.Get("Message-Id"))
	if len(id) > 250 || !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || strings.ContainsAny(id, " \t\r\n") {
		return ""
	}
	return id
}

func dsnHumanPart(mw *multipart.Writer, in DSNInput) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.Set("Content-Description", "Notification")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(dsnHumanText(in))); err != nil {
		return err
	}
	return qp.Close()
}

func dsnStatusPart(mw *multipart.Writer, in DSNInput, global bool) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "message/delivery-status")
	h.Set("Content-Description", "Delivery report")
	if global {
		h.Set("Content-Type", "message/global-delivery-status")
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", dsnTrunc(dsnClean(in.ReportingMTA)))
	if in.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", dsnTrunc(dsnClean(in.EnvID)))
	}
	if !in.Arrival.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range in.Recipients {
		b.WriteString("\r\n")
		dsnRecipientFields(&b, r, global)
	}
	_, err = w.Write([]byte(b.String()))
	return err
}

func dsnRecipientFields(b *strings.Builder, r DSNRecipient, global bool) {
	addrType := "rfc822"
	if global {
		addrType = "utf-8"
	}
	fmt.Fprintf(b, "Final-Recipient: %s; %s\r\n", addrType, dsnTrunc(dsnClean(r.FinalRecipient)))
	if typ, addr, ok := strings.Cut(r.OriginalRecipient, ";"); ok && strings.TrimSpace(addr) != "" {
		fmt.Fprintf(b, "Original-Recipient: %s; %s\r\n", dsnAddrType(typ), dsnTrunc(dsnClean(strings.TrimSpace(addr))))
	}
	fmt.Fprintf(b, "Action: %s\r\n", r.Action)
	fmt.Fprintf(b, "Status: %s\r\n", dsnStatus(r))
	if r.RemoteMTA != "" {
		fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", dsnTrunc(dsnClean(r.RemoteMTA)))
	}
	if d := dsnClean(r.Diagnostic); d != "" {
		d = dsnTrunc(d)
		fmt.Fprintf(b, "Diagnostic-Code: smtp; %s\r\n", d)
	}
	if !r.LastAttempt.IsZero() {
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", r.LastAttempt.Format(time.RFC1123Z))
	}
	if r.Action == DSNDelayed && !r.WillRetryUntil.IsZero() {
		fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", r.WillRetryUntil.Format(time.RFC1123Z))
	}
}

// dsnStatus is the recipient's status code, or the generic one for its
// action when the code given is missing or malformed.
func dsnStatus(r DSNRecipient) string {
	s := strings.TrimSpace(r.Status)
	want := map[string]byte{DSNFailed: '5', DSNDelayed: '4', DSNDelivered: '2', DSNRelayed: '2'}[r.Action]
	if dsnStatusRE.MatchString(s) && s[0] == want {
		return s
	}
	return string(want) + ".0.0"
}

func dsnOriginalPart(mw *multipart.Writer, in DSNInput, global bool) error {
	h := textproto.MIMEHeader{}
	body := in.Original
	switch full := strings.EqualFold(in.Ret, "FULL"); {
	case full && global:
		h.Set("Content-Type", "message/global")
	case full:
		h.Set("Content-Type", "message/rfc822")
	case global:
		h.Set("Content-Type", "message/global-headers")
		body = dsnHeaders(body)
	default:
		h.Set("Content-Type", "text/rfc822-headers")
		body = dsnHeaders(body)
	}
	h.Set("Content-Description", "Undelivered message")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

// dsnHeaders returns the header section of a message, through the line
// break before the blank line.
func dsnHeaders(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}

// dsnClean strips CR and LF (and other controls) so that text from a
// remote server cannot add fields or parts to the report.
func dsnClean(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}

func dsnASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// dsnAddrType is an ORCPT address type (rfc822, utf-8): an atom, bounded.
func dsnAddrType(typ string) string {
	t := strings.ToLower(dsnClean(strings.TrimSpace(typ)))
	if len(t) > 32 || t == "" {
		return "rfc822"
	}
	return t
}

// dsnTrunc cuts a field's value to dsnDiagMax bytes on a rune boundary, so
// no line of the report passes the 998-octet limit of RFC 5322.
func dsnTrunc(s string) string {
	if len(s) <= dsnDiagMax {
		return s
	}
	return strings.ToValidUTF8(s[:dsnDiagMax], "")
}
