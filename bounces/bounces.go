// Package bounces reads the bounce reports (RFC 3464 delivery status
// notifications) that arrive by mail for messages mailgate sent, such as
// a late bounce from a remote that first accepted the message, and ties
// each to the message it is about without trusting the report: only an
// envelope ID that mailgate itself gave the message (ENVID, RFC 3461),
// signed with a key of this installation, matches. cmd/mailgate then
// suppresses the failed recipients and tells the account's webhooks.
package bounces

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

// Report is what a delivery status notification says.
type Report struct {
	// EnvID is the Original-Envelope-Id: the ENVID the message was sent
	// with.
	EnvID      string
	Recipients []Recipient
}

// Recipient is one per-recipient block of the report.
type Recipient struct {
	Addr       string // Final-Recipient (or Original-Recipient), rfc822 type only
	Action     string // failed, delayed, delivered, relayed, expanded
	Status     string // RFC 3463, e.g. 5.1.1
	Diagnostic string // Diagnostic-Code, without its type
}

// Failed reports whether the block is a permanent failure that says the
// address itself is bad: Action failed with a 5.x.x status, except the
// ones about the message or the mailbox's state (full, too big, media,
// policy), which say nothing of whether the address works.
func (r Recipient) Failed() bool {
	if !strings.EqualFold(r.Action, "failed") || !strings.HasPrefix(r.Status, "5.") {
		return false
	}
	for _, p := range []string{"5.2.2", "5.2.3", "5.3.4", "5.6.", "5.7."} {
		if strings.HasPrefix(r.Status, p) {
			return false
		}
	}
	return true
}

// ErrNotReport is returned by Parse for a message that is no delivery
// status notification.
var ErrNotReport = errors.New("not a delivery status notification")

// maxReport bounds the message/delivery-status part read.
const maxReport = 256 << 10

// Parse reads a message and returns its delivery status report.
func Parse(raw []byte) (Report, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Report{}, ErrNotReport
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || !strings.EqualFold(params["report-type"], "delivery-status") || params["boundary"] == "" {
		return Report{}, ErrNotReport
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return Report{}, ErrNotReport
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt == "message/delivery-status" || pt == "message/global-delivery-status" {
			return parseStatus(io.LimitReader(p, maxReport))
		}
	}
}

// parseStatus reads the per-message block and the per-recipient blocks.
func parseStatus(r io.Reader) (Report, error) {
	tr := textproto.NewReader(bufio.NewReader(r))
	msg, err := tr.ReadMIMEHeader()
	if err != nil && len(msg) == 0 {
		return Report{}, ErrNotReport
	}
	rep := Report{EnvID: strings.TrimSpace(msg.Get("Original-Envelope-Id"))}
	for len(rep.Recipients) < 1000 {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			rep.Recipients = append(rep.Recipients, recipientOf(h))
		}
		if err != nil {
			break
		}
	}
	return rep, nil
}

func recipientOf(h textproto.MIMEHeader) Recipient {
	addr := typedValue(h.Get("Final-Recipient"))
	if addr == "" {
		addr = typedValue(h.Get("Original-Recipient"))
	}
	diag := h.Get("Diagnostic-Code")
	if _, v, ok := strings.Cut(diag, ";"); ok {
		diag = v
	}
	return Recipient{Addr: strings.Trim(addr, "<>"), Action: strings.TrimSpace(h.Get("Action")),
		Status: strings.TrimSpace(strings.Fields(h.Get("Status") + " x")[0]), Diagnostic: clean(diag)}
}

// typedValue is the address of "rfc822; addr" (RFC 3464 section 2.3.2);
// other address types give "".
func typedValue(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok || !strings.EqualFold(strings.TrimSpace(typ), "rfc822") {
		return ""
	}
	return strings.TrimSpace(addr)
}

// clean keeps report text printable, on one line, and short.
func clean(s string) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// Tracker makes and checks the envelope IDs mailgate sends messages
// with: "mg1.<queue ID>.<MAC>", the MAC an HMAC-SHA256 of the queue ID
// with the installation's key. Recipients never see an envelope ID
// (only the servers on the way and the sender do), and the queue IDs
// they may see in Received fields cannot be turned into one without the
// key: a forged report cannot suppress anyone.
type Tracker struct{ key []byte }

// keyName is the key's file in the data directory.
const keyName = "bounce.key"

// OpenTracker loads dataDir's key, making one at first start.
func OpenTracker(dataDir string) (*Tracker, error) {
	path := filepath.Join(dataDir, keyName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = make([]byte, 32)
		rand.Read(b)
		b = []byte(hex.EncodeToString(b))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	key := bytes.TrimSpace(b)
	if len(key) < 32 {
		return nil, errors.New(path + " holds no key; remove it to make a new one")
	}
	return &Tracker{key: key}, nil
}

const envPrefix = "mg1."

// EnvID is the envelope ID for queue ID id.
func (t *Tracker) EnvID(id string) string { return envPrefix + id + "." + t.mac(id) }

func (t *Tracker) mac(id string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)[:10])
}

// QueueID returns the queue ID of an envelope ID this installation made;
// ok is false for any other.
func (t *Tracker) QueueID(envID string) (id string, ok bool) {
	rest, found := strings.CutPrefix(envID, envPrefix)
	if !found {
		return "", false
	}
	id, mac, found := strings.Cut(rest, ".")
	if !found || !hmac.Equal([]byte(mac), []byte(t.mac(id))) {
		return "", false
	}
	return id, true
}
