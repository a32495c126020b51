package imap

import "testing"

func TestModifiedUTF7(t *testing.T) {
	t.Parallel()
	pairs := []struct{ wire, name string }{
		{"INBOX", "INBOX"},
		{"&AMQ-rger", "Ärger"},
		{"&AOQ-rger", "ärger"},
		{"Entw&APw-rfe", "Entwürfe"},
		{"&-", "&"},
		{"Tom &- Jerry", "Tom & Jerry"},
		{"&ZeVnLIqe-", "日本語"},
		{"~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"},
		{"&2D3eAA-", "😀"}, // a surrogate pair
	}
	for _, p := range pairs {
		if got, err := decodeMUTF7(p.wire); err != nil || got != p.name {
			t.Errorf("decode %q = %q, %v; want %q", p.wire, got, err, p.name)
		}
		if got := encodeMUTF7(p.name); got != p.wire {
			t.Errorf("encode %q = %q; want %q", p.name, got, p.wire)
		}
	}
	// Raw UTF-8 passes through, as clients with UTF8=ACCEPT send it.
	if got, err := decodeMUTF7("Ärger"); err != nil || got != "Ärger" {
		t.Errorf("decode of raw UTF-8: %q, %v", got, err)
	}
	for _, bad := range []string{
		"&AOQ",       // no closing '-'
		"&AGE-",      // 'a' must be written as itself
		"&AOQ-&AOQ-", // two runs in a row must be one
		"&2D0-",      // a lone surrogate
		"&A-",        // not a whole UTF-16 unit
		"&AOR-",      // non-zero bits after the last unit
		"&Jjo!-",     // '!' is not in the alphabet
		"a\x01b",     // control character
		"\xff",       // not UTF-8
	} {
		if got, err := decodeMUTF7(bad); err == nil {
			t.Errorf("decode %q = %q, want an error", bad, got)
		}
	}
}
