package filter

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"mailgate/delivery"
	"mailgate/internal/mailmsg"
	"mailgate/internal/safefile"
	"mailgate/sieve"
)

// vacation answers the sender unless RFC 5230 section 4.5-4.6 says not
// to, and at most once per sender and handle within the period; the
// record of each answer is kept on disk, so a restart does not answer
// again.
func (f *Filter) vacation(ctx context.Context, m *delivery.LocalMessage, msg *sieve.Message, v *sieve.Vacation) {
	if reason := f.suppress(m, msg, v); reason != "" {
		f.Metrics.vacationResult(reason)
		f.log().Info("sieve vacation not sent", "msgid", m.QueueID, "account", m.Account, "reason", reason)
		return
	}
	sender := strings.ToLower(m.From)
	rec, err := f.recordPath(m.Account, sender, v.Handle)
	if err != nil {
		f.Metrics.failure("vacation_record")
		return
	}
	if f.answeredWithin(rec, v.Period) {
		f.Metrics.vacationResult("already_answered")
		f.log().Info("sieve vacation not sent", "msgid", m.QueueID, "account", m.Account, "reason", "already_answered")
		return
	}
	reply := f.reply(m, msg, v)
	// The record is written before the reply is queued: a crash between
	// the two loses one reply rather than sending two.
	if err := f.writeRecord(rec); err != nil {
		f.Metrics.failure("vacation_record")
		f.log().Error("sieve vacation record not written; no reply sent", "msgid", m.QueueID, "account", m.Account,
			"err", mailmsg.Clean(err.Error()))
		return
	}
	if err := f.Queue.Submit(ctx, "", []string{m.From}, reply, true); err != nil {
		f.Metrics.failure("vacation_submit")
		f.log().Error("sieve vacation reply not queued", "msgid", m.QueueID, "account", m.Account, "err", mailmsg.Clean(err.Error()))
		return
	}
	f.Metrics.action("vacation")
	f.Metrics.vacationResult("sent")
	f.log().Info("sieve vacation sent", "msgid", m.QueueID, "account", m.Account, "to", mailmsg.Clean(m.From))
}

// suppress returns why no reply goes out, or "".
func (f *Filter) suppress(m *delivery.LocalMessage, msg *sieve.Message, v *sieve.Vacation) string {
	if m.From == "" {
		return "null_sender"
	}
	local, _, _ := strings.Cut(strings.ToLower(m.From), "@")
	if local == "mailer-daemon" || local == "postmaster" || local == "listserv" || local == "majordomo" ||
		strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") || strings.HasPrefix(local, "bounce") {
		return "list"
	}
	for _, h := range []string{"List-Id", "List-Post", "List-Unsubscribe", "List-Help", "List-Subscribe", "List-Owner"} {
		if len(msg.Header(h)) > 0 {
			return "list"
		}
	}
	for _, p := range msg.Header("Precedence") {
		switch strings.ToLower(strings.TrimSpace(p)) {
		case "bulk", "list", "junk":
			return "list"
		}
	}
	for _, a := range msg.Header("Auto-Submitted") {
		if !strings.EqualFold(strings.TrimSpace(strings.SplitN(a, ";", 2)[0]), "no") {
			return "auto"
		}
	}
	own := ownAddresses(m, v)
	if own[strings.ToLower(m.From)] {
		return "own_address"
	}
	if !addressed(msg, own) {
		return "not_addressed"
	}
	return ""
}

// ownAddresses are the recipient's addresses: the envelope recipient,
// its account, its base without +tag, and :addresses.
func ownAddresses(m *delivery.LocalMessage, v *sieve.Vacation) map[string]bool {
	own := map[string]bool{strings.ToLower(m.Rcpt): true, strings.ToLower(m.Account): true}
	if local, domain, ok := strings.Cut(strings.ToLower(m.Rcpt), "@"); ok {
		base, _, _ := strings.Cut(local, "+")
		own[base+"@"+domain] = true
	}
	for _, a := range v.Addresses {
		if p, err := mail.ParseAddress(a); err == nil {
			own[strings.ToLower(p.Address)] = true
		}
	}
	return own
}

// addressed reports whether one of own is among the message's visible
// recipients (RFC 5230 section 4.5): mail that only Bcc'd the user, or
// came through a list, is not answered.
func addressed(msg *sieve.Message, own map[string]bool) bool {
	for _, h := range []string{"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"} {
		for _, v := range msg.Header(h) {
			list, err := mail.ParseAddressList(v)
			if err != nil {
				continue
			}
			for _, a := range list {
				if own[strings.ToLower(a.Address)] {
					return true
				}
			}
		}
	}
	return false
}

// recordPath names the record of replies from account to sender under
// handle: <scripts dir>/<account>/vacation/<sha256>.
func (f *Filter) recordPath(account, sender, handle string) (string, error) {
	dir, err := f.Scripts.Dir(account)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(sender + "\x00" + handle))
	return filepath.Join(dir, "vacation", hex.EncodeToString(sum[:16])), nil
}

func (f *Filter) answeredWithin(path string, period time.Duration) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return false
	}
	return f.now().Sub(time.Unix(sec, 0)) < period
}

// writeRecord notes the time of a reply; records older than the longest
// period are pruned now and then, so the directory stays small.
func (f *Filter) writeRecord(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := safefile.WriteFile(path, []byte(strconv.FormatInt(f.now().Unix(), 10)+"\n"), 0o600); err != nil {
		return err
	}
	f.prune(dir)
	return nil
}

// pruneAbove is the number of records above which old ones are removed.
const pruneAbove = 1000

func (f *Filter) prune(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) <= pruneAbove {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !f.answeredWithin(p, 90*24*time.Hour) {
			os.Remove(p)
		}
	}
}

// reply builds the answer (RFC 5230 section 5): to the envelope sender,
// from the recipient (or :from), Auto-Submitted: auto-replied, threaded
// on the original.
func (f *Filter) reply(m *delivery.LocalMessage, msg *sieve.Message, v *sieve.Vacation) []byte {
	var b strings.Builder
	from := m.Rcpt
	if v.From != "" {
		from = v.From
	}
	subject := v.Subject
	if subject == "" {
		orig := ""
		if s := msg.Header("Subject"); len(s) > 0 {
			orig = s[0]
		}
		subject = "Auto: " + orig
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: <%s>\r\nSubject: %s\r\n", mailmsg.Clean(from), mailmsg.Clean(m.From), mime.QEncoding.Encode("utf-8", mailmsg.Clean(subject)))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\n", f.now().Format(time.RFC1123Z), randomID(), f.Hostname)
	if id := msg.Header("Message-ID"); len(id) > 0 {
		refs := strings.Join(msg.Header("References"), " ")
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", mailmsg.Clean(id[0]), strings.TrimSpace(mailmsg.Clean(refs+" "+id[0])))
	}
	b.WriteString("Auto-Submitted: auto-replied\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\n")
	if v.MIME {
		b.WriteString(crlf(strings.TrimLeft(v.Reason, "\r\n")))
		return []byte(b.String())
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(crlf(v.Reason))
	if !strings.HasSuffix(b.String(), "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// crlf gives every line a CRLF end (text: strings have them already).
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
