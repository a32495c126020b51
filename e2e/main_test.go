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

	"mailgate/internal/mgtest"
	"mailgate/queue"
)

func TestMain(m *testing.M) { mgtest.Main(m) }

// spoolMagic opens every spool file (queue/spool.go documents the format:
// this line, the envelope as one line of JSON, then the message bytes).
// It is parsed here independently of the queue package on purpose: a
// change of the on-disk format must show up as a failing test.
const spoolMagic = "MAILGATE-SPOOL/1\n"

// readSpool returns the envelope and message of the spool file for id.
func readSpool(t *testing.T, spoolDir, id string) (*queue.Envelope, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(spoolDir, id+".msg"))
	if err != nil {
		t.Fatalf("message %s not in the spool: %v", id, err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(spoolMagic))
	if !ok {
		t.Fatalf("%s.msg does not start with %q", id, spoolMagic)
	}
	head, raw, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		t.Fatalf("%s.msg has no envelope line", id)
	}
	env := &queue.Envelope{}
	if err := json.Unmarshal(head, env); err != nil {
		t.Fatalf("%s.msg envelope: %v", id, err)
	}
	if env.ID != id {
		t.Errorf("%s.msg holds envelope id %q", id, env.ID)
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
