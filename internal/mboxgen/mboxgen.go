// Package mboxgen writes varied test mail as an mbox: the message source
// for imaptest's stress runs (interop's imaptest test, .ci/run) and for
// the IMAP integrity tests, which check every fetched byte against it.
// The mix is what clients meet and what has broken servers before:
// multipart/alternative, attachments in base64, forwarded messages
// (message/rfc822 holding a multipart), raw 8-bit and RFC 2047 headers,
// address groups, long folded headers and lines that start with "From ".
// The same seed always gives the same messages.
package mboxgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// Write writes n messages, generated from seed, to w in mbox format (LF
// line ends, "From " separators, body lines starting with "From "
// quoted as ">From ").
func Write(w io.Writer, n int, seed uint64) error {
	var buf bytes.Buffer
	for i, m := range Messages(n, seed) {
		fmt.Fprintf(&buf, "From sender%d@example.org %s\n", i, date(i).Format("Mon Jan _2 15:04:05 2006"))
		for _, line := range strings.SplitAfter(strings.ReplaceAll(string(m), "\r\n", "\n"), "\n") {
			if strings.HasPrefix(line, "From ") {
				buf.WriteByte('>')
			}
			buf.WriteString(line)
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
	}
	return nil
}

// Messages returns n messages, generated from seed, with CRLF line ends
// (as an IMAP server stores them).
func Messages(n int, seed uint64) [][]byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([][]byte, n)
	for i := range out {
		g := &gen{r: r, i: i}
		out[i] = []byte(strings.ReplaceAll(g.message(), "\n", "\r\n"))
	}
	return out
}

// gen builds one message; text uses LF and is converted at the end.
type gen struct {
	r *rand.Rand
	i int
}

// kinds are the message shapes, picked in turn so that any 10
// consecutive messages hold each of them.
var kinds = []func(g *gen) (contentHeaders, body string){
	(*gen).plain, (*gen).eightBit, (*gen).alternative, (*gen).attachment,
	(*gen).forwarded, (*gen).quotedPrintable, (*gen).plain, (*gen).attachment,
	(*gen).nestedMixed, (*gen).alternative,
}

func (g *gen) message() string {
	ct, body := kinds[g.i%len(kinds)](g)
	return g.headers() + "MIME-Version: 1.0\n" + ct + "\n" + body
}

func date(i int) time.Time {
	return time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Minute)
}

var names = []string{"Alice Example", "Bob O'Neil", "Zoë Ärger", "Ünal Şahin", "李雷", "Renée", "Mallory", "Carol"}

// address returns a mailbox, its display name sometimes raw UTF-8 (8-bit
// header), sometimes RFC 2047, sometimes quoted or a comment.
func (g *gen) address() string {
	n := names[g.r.IntN(len(names))]
	local := fmt.Sprintf("user%d", g.r.IntN(40))
	switch g.r.IntN(5) {
	case 0:
		return fmt.Sprintf("%s <%s@example.org>", n, local)
	case 1:
		return fmt.Sprintf("=?UTF-8?B?%s?= <%s@example.net>", base64.StdEncoding.EncodeToString([]byte(n)), local)
	case 2:
		return fmt.Sprintf("\"%s\" <%s@example.com>", strings.ReplaceAll(n, "'", ""), local)
	case 3:
		return fmt.Sprintf("%s@example.org (%s)", local, n)
	}
	return local + "@example.org"
}

var subjects = []string{
	"Quarterly report", "Re: lunch on Friday?", "Fwd: invoice 2026-118", "Grüße aus München",
	"Ärger mit dem Drucker", "会议通知", "[list] weekly digest", "Photos from the trip",
}

func (g *gen) subject() string {
	s := fmt.Sprintf("%s #%d", subjects[g.r.IntN(len(subjects))], g.i)
	switch g.r.IntN(3) {
	case 0:
		return "=?UTF-8?Q?" + qEncode(s) + "?="
	case 1:
		return s + " with a rather long subject line that a client has to fold\n because it goes on past the seventy-eight characters a line should have"
	}
	return s // raw, possibly 8-bit
}

func qEncode(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c < 0x80 && c > ' ' && c != '=' && c != '?' && c != '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func (g *gen) headers() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.org>\n", g.i)
	fmt.Fprintf(&b, "Received: from mx.example.org (mx.example.org [192.0.2.%d])\n\tby mail.example.com with ESMTPS id %x;\n\t%s\n",
		g.i%250+1, g.r.Uint64(), date(g.i).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%d.%x@mboxgen.example>\n", g.i, g.r.Uint32())
	fmt.Fprintf(&b, "Date: %s\n", date(g.i).Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\n", g.address())
	switch g.r.IntN(4) {
	case 0:
		fmt.Fprintf(&b, "To: undisclosed-recipients:;\n")
	case 1:
		fmt.Fprintf(&b, "To: Friends: %s, %s;, %s\n", g.address(), g.address(), g.address())
	default:
		fmt.Fprintf(&b, "To: %s\n", g.address())
	}
	if g.r.IntN(2) == 0 {
		fmt.Fprintf(&b, "Cc: %s,\n %s\n", g.address(), g.address())
	}
	fmt.Fprintf(&b, "Subject: %s\n", g.subject())
	if g.i > 0 && g.r.IntN(3) == 0 {
		fmt.Fprintf(&b, "In-Reply-To: <%d.0@mboxgen.example>\nReferences: <%d.0@mboxgen.example>\n <%d.0@mboxgen.example>\n",
			g.i-1, max(0, g.i-2), g.i-1)
	}
	return b.String()
}

var words = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod
tempor incididunt ut labore et dolore magna aliqua Grüße naïve café façade 数据 ünïcödé From from`)

// text returns lines of words; some start with "From " or a dot.
func (g *gen) text(lines int) string {
	var b strings.Builder
	for l := 0; l < lines; l++ {
		switch g.r.IntN(12) {
		case 0:
			b.WriteString("From the desk of the sender, a line mbox must quote.\n")
			continue
		case 1:
			b.WriteString(".a line that starts with a dot\n")
			continue
		case 2:
			b.WriteString("\n")
			continue
		}
		n := 3 + g.r.IntN(12)
		for w := 0; w < n; w++ {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[g.r.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// asciiText is text without 8-bit words, for parts declared 7bit.
func (g *gen) asciiText(lines int) string {
	var b strings.Builder
	for _, c := range g.text(lines) {
		if c < 0x80 {
			b.WriteRune(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (g *gen) plain() (string, string) {
	return "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n", g.asciiText(3 + g.r.IntN(40))
}

func (g *gen) eightBit() (string, string) {
	return "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n", g.text(5 + g.r.IntN(30))
}

func (g *gen) quotedPrintable() (string, string) {
	var b strings.Builder
	for _, line := range strings.Split(g.text(4+g.r.IntN(20)), "\n") {
		b.WriteString(qpLine(line))
		b.WriteByte('\n')
	}
	return "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n", b.String()
}

// qpLine encodes one line as quoted-printable with soft breaks.
func qpLine(s string) string {
	var b strings.Builder
	col := 0
	for _, c := range []byte(s) {
		enc := string(c)
		if c >= 0x80 || c == '=' {
			enc = fmt.Sprintf("=%02X", c)
		}
		if col+len(enc) > 73 {
			b.WriteString("=\n")
			col = 0
		}
		b.WriteString(enc)
		col += len(enc)
	}
	return b.String()
}

func (g *gen) boundary(tag string) string {
	return fmt.Sprintf("=_%s_%d_%x", tag, g.i, g.r.Uint32())
}

// multipart joins parts (each with its own headers) under boundary.
func multipart(boundary string, parts ...string) string {
	var b strings.Builder
	b.WriteString("This is a multi-part message in MIME format.\n")
	for _, p := range parts {
		fmt.Fprintf(&b, "\n--%s\n%s", boundary, p)
	}
	fmt.Fprintf(&b, "\n--%s--\n", boundary)
	return b.String()
}

func (g *gen) alternativeBody() (string, string) {
	bd := g.boundary("alt")
	text := g.asciiText(3 + g.r.IntN(15))
	html := "<html><body><p>" + strings.ReplaceAll(strings.TrimSpace(text), "\n", "</p>\n<p>") + "</p></body></html>\n"
	return "Content-Type: multipart/alternative; boundary=\"" + bd + "\"\n", multipart(bd,
		"Content-Type: text/plain; charset=us-ascii\n\n"+text,
		"Content-Type: text/html; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"+html)
}

func (g *gen) alternative() (string, string) { return g.alternativeBody() }

// attachmentPart is a base64 part of random bytes, 76 columns.
func (g *gen) attachmentPart() string {
	data := make([]byte, 500+g.r.IntN(12000))
	for i := range data {
		data[i] = byte(g.r.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	name := fmt.Sprintf("report-%d.pdf", g.i)
	if g.r.IntN(2) == 0 {
		name = fmt.Sprintf("Übersicht-%d.bin", g.i)
	}
	fmt.Fprintf(&b, "Content-Type: application/octet-stream; name=\"%s\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"%s\"\n\n", name, name)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\n")
	return b.String()
}

func (g *gen) attachment() (string, string) {
	bd := g.boundary("mixed")
	parts := []string{"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + g.text(2+g.r.IntN(10))}
	for n := 1 + g.r.IntN(2); n > 0; n-- {
		parts = append(parts, g.attachmentPart())
	}
	return "Content-Type: multipart/mixed; boundary=\"" + bd + "\"\n", multipart(bd, parts...)
}

// forwarded holds a whole message (itself multipart) as message/rfc822.
func (g *gen) forwarded() (string, string) {
	bd := g.boundary("fwd")
	inner := &gen{r: g.r, i: g.i + 1000}
	ct, body := inner.alternativeBody()
	if g.r.IntN(2) == 0 {
		ct, body = inner.attachment()
	}
	msg := inner.headers() + "MIME-Version: 1.0\n" + ct + "\n" + body
	return "Content-Type: multipart/mixed; boundary=\"" + bd + "\"\n", multipart(bd,
		"Content-Type: text/plain; charset=us-ascii\n\nForwarded message below.\n",
		"Content-Type: message/rfc822\nContent-Disposition: inline\n\n"+msg)
}

// nestedMixed is mixed(alternative(text, html), attachment).
func (g *gen) nestedMixed() (string, string) {
	bd := g.boundary("outer")
	act, abody := g.alternativeBody()
	return "Content-Type: multipart/mixed; boundary=\"" + bd + "\"\n", multipart(bd, act+"\n"+abody, g.attachmentPart())
}
