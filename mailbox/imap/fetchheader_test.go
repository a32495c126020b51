package imap

import (
	"reflect"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

// TestHeaderFetchesMatchFileFetches checks that ENVELOPE and the header
// sections answered from the store's header cache are byte for byte what
// the same items give when the message file is read (BODYSTRUCTURE in
// the same FETCH makes the server open the file).
func TestHeaderFetchesMatchFileFetches(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := env.login(t, nil)
	encoded := "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\n" +
		"To: alice@example.com, \"Bob\" <bob@example.com>\r\n" +
		"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n" +
		"X-Folded: one\r\n two\r\n" +
		"\r\n" +
		"Body.\r\n"
	appendMsg(t, c, "INBOX", multipart, nil)
	appendMsg(t, c, "INBOX", encoded, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sections := []*goimap.FetchItemBodySection{
		{Specifier: goimap.PartSpecifierHeader, Peek: true},
		{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"Subject", "x-folded"}, Peek: true},
		{Specifier: goimap.PartSpecifierHeader, HeaderFieldsNot: []string{"Subject"}, Peek: true},
		{Specifier: goimap.PartSpecifierHeader, Peek: true, Partial: &goimap.SectionPartial{Offset: 3, Size: 10}},
	}
	fromHeader, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{Envelope: true, BodySection: sections}).Collect()
	if err != nil || len(fromHeader) != 2 {
		t.Fatalf("FETCH from the header: %v, %d messages", err, len(fromHeader))
	}
	fromFile, err := c.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{Envelope: true, BodySection: sections,
		BodyStructure: &goimap.FetchItemBodyStructure{}}).Collect()
	if err != nil || len(fromFile) != 2 {
		t.Fatalf("FETCH from the file: %v, %d messages", err, len(fromFile))
	}
	for i := range fromHeader {
		if !reflect.DeepEqual(fromHeader[i].Envelope, fromFile[i].Envelope) {
			t.Errorf("message %d: ENVELOPE %+v from the header, %+v from the file", i+1, fromHeader[i].Envelope, fromFile[i].Envelope)
		}
		for _, bs := range sections {
			h, f := string(fromHeader[i].FindBodySection(bs)), string(fromFile[i].FindBodySection(bs))
			if h != f || h == "" {
				t.Errorf("message %d, section %+v: %q from the header, %q from the file", i+1, bs, h, f)
			}
		}
	}
	if got := fromHeader[1].Envelope.Subject; got != "Grüße" {
		t.Errorf("ENVELOPE subject %q, want Grüße", got)
	}
	if got := string(fromHeader[1].FindBodySection(sections[1])); got != "Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\nX-Folded: one\r\n two\r\n\r\n" {
		t.Errorf("HEADER.FIELDS (Subject X-Folded): %q", got)
	}
	if got := string(fromHeader[0].FindBodySection(sections[0])); got != multipart[:indexBody(multipart)] {
		t.Errorf("BODY[HEADER]: %q", got)
	}
}

// indexBody returns the offset of the body (after the blank line).
func indexBody(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		if s[i:i+4] == "\r\n\r\n" {
			return i + 4
		}
	}
	return len(s)
}
