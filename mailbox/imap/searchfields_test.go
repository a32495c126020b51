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
