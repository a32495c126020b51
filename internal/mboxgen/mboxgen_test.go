package mboxgen

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// Every message parses as MIME down to its leaves, the kinds the package
// promises are all there, and the same seed gives the same bytes.
func TestMessagesParseAndVary(t *testing.T) {
	t.Parallel()
	msgs := Messages(50, 1)
	seen := map[string]bool{}
	for i, m := range msgs {
		if bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("message %d has a bare LF", i)
		}
		e, err := message.Read(bytes.NewReader(m))
		if err != nil && !message.IsUnknownCharset(err) {
			t.Fatalf("message %d: %v", i, err)
		}
		err = e.Walk(func(path []int, part *message.Entity, err error) error {
			ct, _, _ := part.Header.ContentType()
			seen[ct] = true
			return err
		})
		if err != nil && !message.IsUnknownCharset(err) {
			t.Fatalf("message %d: %v", i, err)
		}
		if bytes.IndexFunc(m, func(r rune) bool { return r > 0x7f }) < bytes.Index(m, []byte("\r\n\r\n")) {
			seen["8-bit header"] = true
		}
	}
	for _, want := range []string{"text/plain", "text/html", "multipart/alternative", "multipart/mixed",
		"application/octet-stream", "message/rfc822", "8-bit header"} {
		if !seen[want] {
			t.Errorf("no %s in 50 messages", want)
		}
	}
	if again := Messages(50, 1); !bytes.Equal(bytes.Join(again, nil), bytes.Join(msgs, nil)) {
		t.Error("the same seed gave other messages")
	}
}

// The mbox splits back into the messages: one "From " line each, and
// body lines starting with "From " quoted.
func TestWriteMbox(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := Write(&buf, 30, 7); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split("\n"+buf.String(), "\nFrom ")[1:]
	msgs := Messages(30, 7)
	if len(parts) != len(msgs) {
		t.Fatalf("%d messages in the mbox, want %d", len(parts), len(msgs))
	}
	for i, p := range parts {
		_, body, _ := strings.Cut(p, "\n")
		if i == len(parts)-1 {
			body = strings.TrimSuffix(body, "\n") // the separator's blank line; the others went with "\nFrom "
		}
		body = strings.ReplaceAll(body, "\n>From ", "\nFrom ")
		want := strings.ReplaceAll(string(msgs[i]), "\r\n", "\n")
		if body != want {
			t.Fatalf("message %d differs after the mbox round trip", i)
		}
	}
}
