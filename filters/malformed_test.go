package filters

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/resolver"
)

// TestChainMalformedInput: broken headers and DKIM signatures give a
// result, never a panic or a refusal for the wrong reason.
func TestChainMalformedInput(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t, `example.com. 300 IN TXT "v=spf1 +all"`, `_dmarc.example.com. 300 IN TXT "v=DMARC1; p=none"`)
	ch := newChain(t, testConfig(t, []string{"spf", "dkim_verify", "dmarc", "milter"}, "filters:\n  milter:\n    address: 127.0.0.1:1\n    actions: {error: accept}\n"),
		Deps{Resolver: resolver.New(srv.Addr)})
	cases := map[string]struct{ raw, dkim string }{
		"garbage signature":   {"DKIM-Signature: garbage\nFrom: a@example.com\n\nbody\n", "dkim=permerror"},
		"empty signature":     {"DKIM-Signature:\nFrom: a@example.com\n\nbody\n", "dkim=permerror"},
		"duplicate tags":      {"DKIM-Signature: v=1; v=1; d=example.com\nFrom: a@example.com\n\nbody\n", "dkim=permerror"},
		"no body separator":   {"From: a@example.com\nSubject: x\n", "dkim=none"},
		"line without colon":  {"From: a@example.com\nthis is not a header\n\nbody\n", "dkim=none"},
		"empty message":       {"", "dkim=none"},
		"only a blank line":   {"\n", "dkim=none"},
		"continuation first":  {" folded\nFrom: a@example.com\n\nbody\n", "dkim=none"},
		"huge signature list": {strings.Repeat("DKIM-Signature: v=1; d=example.com; s=x\n", 200) + "From: a@example.com\n\nb\n", "dkim=permerror"},
	}
	for name, c := range cases {
		reply, msg := transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.1"), Helo: "x"}, "a@example.com", []string{"b@mx.example.org"}, c.raw)
		if reply != "" {
			t.Errorf("%s: refused: %s", name, reply)
			continue
		}
		if !strings.Contains(string(msg.Prepend), c.dkim) {
			t.Errorf("%s: want %s in\n%s", name, c.dkim, msg.Prepend)
		}
		if name == "huge signature list" && strings.Count(string(msg.Prepend), "dkim=") != 5 {
			t.Errorf("%d dkim results, want max_signatures=5", strings.Count(string(msg.Prepend), "dkim="))
		}
	}
}

func FuzzHeaderEdits(f *testing.F) {
	f.Add([]byte("From: a@b\r\nSubject: x\r\n\r\nbody\r\n"), "Subject", 1, "new")
	f.Add([]byte("Authentication-Results: mx.example.org; spf=pass\r\n folded\r\n\r\n"), "From", 2, "")
	f.Add([]byte(" cont\r\n\r\n"), "x", 0, "v\r\nw")
	f.Fuzz(func(t *testing.T, raw []byte, name string, index int, value string) {
		fields, at := headerFields(raw)
		n := 0
		for _, fl := range fields {
			n += len(fl.Raw)
		}
		if n > len(raw) || at > len(raw) {
			t.Fatalf("fields cover %d bytes, body at %d, of %d", n, at, len(raw))
		}
		if !bytes.HasPrefix(raw, bytes.Join(rawOf(fields), nil)) {
			t.Fatal("fields are not the start of the message")
		}
		removeOurAuthResults(raw, "mx.example.org")
		changeHeader(raw, name, index, value)
		headerKeys(raw)
		fromAddress(raw)
	})
}

func rawOf(fields []field) [][]byte {
	out := make([][]byte, len(fields))
	for i, f := range fields {
		out[i] = f.Raw
	}
	return out
}
