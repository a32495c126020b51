package faults

import (
	"regexp"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

var replyRE = regexp.MustCompile(`^[245]\d\d [245]\.\d{1,3}\.\d{1,3} [^\r\n]*$`)

// FuzzEnvelope sends arbitrary MAIL FROM and RCPT TO paths to the real
// binary's MX port (the envelope parser is go-smtp's plus relay's
// address checks). Every reply must be one proper line with an enhanced
// status code; a recipient is accepted without AUTH only in a local
// domain (no open relay); the server keeps serving.
func FuzzEnvelope(f *testing.F) {
	for _, s := range [][2]string{
		{"a@b.test", "app@localhost"}, {"", "app@localhost"}, {"a@b.test", "x@remote.test"},
		{"a@b.test> SIZE=1", "app@localhost> NOTIFY=NEVER"}, {"a@b.test", "app%remote.test@localhost"},
		{"@x:a@b.test", "@localhost:x@remote.test"}, {"\"a b\"@b.test", "\"x@remote.test\"@localhost"},
		{"a@[127.0.0.1]", "app@[127.0.0.1]"}, {"a@b.test\r", "app@localhost\rX: y"}, {"\x00", "\xff@localhost"},
		{strings.Repeat("a", 300) + "@b.test", strings.Repeat("x", 70) + "@localhost"}, {"a@b.test", "APP@LOCALHOST."},
		{"a@b.test", "app+../../x@localhost"}, {"a@b.test", "postmaster"}, {"<a@b.test>", "<<app@localhost>>"},
	} {
		f.Add(s[0], s[1])
	}
	srv := mgtest.Start(f, mgtest.Options{
		Protocols: []string{"smtp"},
		Users:     map[string]string{user: pass},
		Config:    "limits:\n  max_connections_per_ip: 1000\n  max_errors: 1000\n",
	})
	f.Fuzz(func(t *testing.T, from, rcpt string) {
		from, rcpt = strings.ReplaceAll(from, "\n", ""), strings.ReplaceAll(rcpt, "\n", "")
		p := dialPlain(t, srv.Addr["smtp"])
		if g := p.line(); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("greeting %q: the server stopped serving", g)
		}
		p.send("EHLO fuzz.test\r\n")
		p.until("250 ")
		p.send("MAIL FROM:<" + from + ">\r\n")
		mail := p.line()
		check(t, "MAIL", mail)
		if !strings.HasPrefix(mail, "250 ") {
			return
		}
		p.send("RCPT TO:<" + rcpt + ">\r\n")
		got := p.line()
		check(t, "RCPT", got)
		if strings.HasPrefix(got, "250 ") {
			// The server reads the path up to the first '>' outside quotes;
			// anything after it is ESMTP parameters.
			path := pathOf(rcpt)
			domain := strings.ToLower(path[strings.LastIndexByte(path, '@')+1:])
			if i := strings.LastIndexByte(path, '@'); i < 0 || strings.TrimSuffix(domain, ".") != "localhost" {
				if !strings.EqualFold(strings.TrimSpace(rcpt), "postmaster") {
					t.Fatalf("RCPT TO:<%q> accepted without AUTH: open relay?", rcpt)
				}
			}
		}
		p.send("QUIT\r\n")
	})
}

// pathOf returns the part of a RCPT argument an SMTP server takes as the
// path: up to the first '>' that is not inside a quoted local part.
func pathOf(arg string) string {
	quoted, escaped := false, false
	for i, c := range arg {
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == '>' && !quoted:
			return arg[:i]
		}
	}
	return arg
}

// check requires one complete reply line with an enhanced status code.
func check(t *testing.T, cmd, reply string) {
	t.Helper()
	if !replyRE.MatchString(reply) {
		t.Fatalf("%s answered %q: not a single reply line with an enhanced status code", cmd, reply)
	}
}
