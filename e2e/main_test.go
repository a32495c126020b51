// Package e2e tests the mailgate binary from the outside: built once,
// started with real config files on loopback ports, driven by real
// clients (swaks, Python's smtplib, go-smtp's client), killed and
// restarted. The harness is internal/mgtest.
package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"mailgate/internal/mailmsg"
	"mailgate/internal/mgtest"
)

func TestMain(m *testing.M) { mgtest.Main(m) }

// spoolMagic opens every spool file (queue/spool.go documents the format:
// this line, the envelope as one line of JSON, then the message bytes).
// It is parsed here independently of the queue package on purpose: a
// change of the on-disk format must show up as a failing test.
const spoolMagic = "MAILGATE-SPOOL/1\n"

// readSpool returns the envelope and message of the spool file for id.
func readSpool(t *testing.T, spoolDir, id string) (*mailmsg.Envelope, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(spoolDir, id+".msg"))
	if err != nil {
		t.Fatalf("message %s not in the spool: %v", id, err)
	}
	return parseSpool(t, id, data)
}

func parseSpool(t *testing.T, id string, data []byte) (*mailmsg.Envelope, []byte) {
	t.Helper()
	rest, ok := bytes.CutPrefix(data, []byte(spoolMagic))
	if !ok {
		t.Fatalf("%s.msg does not start with %q (%d bytes: %.80q)", id, spoolMagic, len(data), data)
	}
	head, raw, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		t.Fatalf("%s.msg has no envelope line", id)
	}
	env := &mailmsg.Envelope{}
	if err := json.Unmarshal(head, env); err != nil {
		t.Fatalf("%s.msg envelope: %v", id, err)
	}
	if env.ID != id {
		t.Errorf("%s.msg holds envelope id %q", id, env.ID)
	}
	// A reused spool file may keep an older message's tail past body_len.
	var n struct {
		BodyLen int64 `json:"body_len"`
	}
	if json.Unmarshal(head, &n) == nil && n.BodyLen > 0 && n.BodyLen <= int64(len(raw)) {
		raw = raw[:n.BodyLen]
	}
	return env, raw
}

// bodyAfterReceived strips the Received header mailgate put on top.
func bodyAfterReceived(t *testing.T, raw []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(raw, []byte("Received: from ")) {
		t.Fatalf("stored message does not start with a Received header:\n%.300q", raw)
	}
	// The header's last line is the date, "\t<RFC 1123Z date>\r\n".
	i := bytes.Index(raw, []byte(";\r\n\t"))
	if i < 0 {
		t.Fatalf("Received header has no date:\n%.300q", raw)
	}
	j := bytes.Index(raw[i+4:], []byte("\r\n"))
	return raw[i+4+j+2:]
}

// findMessage returns an acknowledged message as stored, from its
// Received header on: from the spool while it is queued, else from a
// local mailbox. Local delivery writes the mailbox copy before it removes
// the spool file, so looking in this order cannot miss a message in
// transit. where says which it was.
func findMessage(t *testing.T, srv *mgtest.Server, id string) (raw []byte, where string) {
	t.Helper()
	if data, err := os.ReadFile(filepath.Join(srv.SpoolDir(), id+".msg")); err == nil {
		_, raw := parseSpool(t, id, data)
		return raw, "spool"
	}
	marker := []byte(" id " + id + "\r\n")
	var found []byte
	filepath.WalkDir(srv.MailDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != nil {
			return nil
		}
		if dir := filepath.Base(filepath.Dir(path)); dir != "new" && dir != "cur" {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		if i := bytes.Index(data, marker); i >= 0 {
			if start := bytes.LastIndex(data[:i], []byte("Received: ")); start >= 0 {
				found = data[start:]
				where = path
			}
		}
		return nil
	})
	if found == nil {
		t.Fatalf("message %s is neither in the spool nor in a mailbox under %s", id, srv.MailDir())
	}
	return found, where
}
