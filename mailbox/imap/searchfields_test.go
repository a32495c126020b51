package imap

import (
	"strings"
	"testing"
)

func TestFieldLines(t *testing.T) {
	t.Parallel()
	head := []byte("Subject: first\r\n folded on\r\nSubjects: not this one\r\nX-Subject: nor this\r\n" +
		"subject : second\r\nTo: x@example.org\r\n\tcontinued To\r\n\r\n")
	got := string(fieldLines(head, "Subject"))
	want := "Subject: first\r\n folded on\r\nsubject : second\r\n"
	if got != want {
		t.Errorf("fieldLines(Subject) = %q, want %q", got, want)
	}
	if got := string(fieldLines(head, "to")); got != "To: x@example.org\r\n\tcontinued To\r\n" {
		t.Errorf("fieldLines(to) = %q", got)
	}
	if got := fieldLines(head, "Cc"); got != nil {
		t.Errorf("fieldLines(Cc) = %q, want nothing", got)
	}
	c := &candidate{loadHead: func() []byte { return head }}
	if v := c.fields("SUBJECT").Get("Subject"); v != "first folded on" {
		t.Errorf("unfolded Subject %q", v)
	}
}

func TestFieldsLongerThanReadBuffer(t *testing.T) {
	t.Parallel()
	long := "Subject: " + strings.Repeat("word ", 300) + "needle\r\n\r\n"
	c := &candidate{loadHead: func() []byte { return []byte(long) }}
	if v := c.fields("Subject").Get("Subject"); len(v) != len(long)-len("Subject: \r\n\r\n") {
		t.Errorf("a %d-byte Subject came back as %d bytes", len(long), len(v))
	}
	if got := c.fields("From").Get("From"); got != "" {
		t.Errorf("absent From: %q", got)
	}
}

// matchHeader's raw fast path agrees with the decoding path, and never
// matches a field's name.
func TestMatchHeader(t *testing.T) {
	t.Parallel()
	head := []byte("Subject: Quarterly\r\n report\r\nReceived: from a\r\nReceived: from b\r\n" +
		"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n\r\n")
	c := &candidate{loadHead: func() []byte { return head }}
	cases := []struct {
		key, pattern string
		want         bool
	}{
		{"subject", "QUARTERLY REPORT", true},
		{"Subject", "subject", false},
		{"Subject", "", true},
		{"Received", "from b", true},
		{"Received", "a\r\nReceived", false},
		{"Received", "received", false},
		{"From", "jörg", true},
		{"From", "j=c3", false},
		{"Cc", "", false},
	}
	for _, tc := range cases {
		if got := c.matchHeader(tc.key, tc.pattern); got != tc.want {
			t.Errorf("HEADER %s %q = %v, want %v", tc.key, tc.pattern, got, tc.want)
		}
		if got := matchFields(c.fields(tc.key).FieldsByKey(tc.key), tc.pattern); got != tc.want {
			t.Errorf("decoding path: HEADER %s %q = %v, want %v", tc.key, tc.pattern, got, tc.want)
		}
	}
}
