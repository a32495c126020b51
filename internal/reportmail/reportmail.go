// Package reportmail writes the messages that carry machine-readable
// reports (TLS-RPT, DMARC aggregate): a short text for people and the
// report as a base64 attachment, in one MIME message with the fields the
// report's RFC asks for.
package reportmail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Message is a report to write.
type Message struct {
	From, To, Subject string
	// Headers are extra fields, in order (TLS-Report-Domain, ...).
	Headers [][2]string
	// ReportType, when set, makes the message multipart/report with that
	// report-type (RFC 6522); else multipart/mixed.
	ReportType string
	Text       string // the part for people
	FileName   string
	MediaType  string // the attachment's, e.g. application/tlsrpt+gzip
	Data       []byte
	Hostname   string // right side of Message-ID
	Date       time.Time
}

// Bytes renders the message with CRLF line ends.
func (m *Message) Bytes() []byte {
	boundary := "=_report_" + token()
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	w("From: %s", m.From)
	w("To: %s", m.To)
	w("Subject: %s", mime.QEncoding.Encode("utf-8", m.Subject))
	w("Date: %s", m.Date.Format(time.RFC1123Z))
	w("Message-ID: <%s.%s@%s>", m.Date.UTC().Format("20060102150405"), token(), m.Hostname)
	for _, h := range m.Headers {
		w("%s: %s", h[0], h[1])
	}
	w("MIME-Version: 1.0")
	if m.ReportType != "" {
		w("Content-Type: multipart/report; report-type=%q; boundary=%q", m.ReportType, boundary)
	} else {
		w("Content-Type: multipart/mixed; boundary=%q", boundary)
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	b.WriteString(strings.ReplaceAll(strings.TrimRight(m.Text, "\n"), "\n", "\r\n") + "\r\n")
	w("--%s", boundary)
	w("Content-Type: %s", m.MediaType)
	w("Content-Transfer-Encoding: base64")
	w("Content-Disposition: attachment; filename=%q", m.FileName)
	w("")
	writeBase64(&b, m.Data)
	w("--%s--", boundary)
	return b.Bytes()
}

// writeBase64 wraps at 76 characters (RFC 2045 §6.8).
func writeBase64(b *bytes.Buffer, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
}

func token() string {
	var r [8]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}
