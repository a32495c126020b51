package imap

import "testing"

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
