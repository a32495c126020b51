package imap

import (
	"strings"
	"testing"
)

// TestMultiappendOverQuotaStoresNone: a MULTIAPPEND whose messages do not
// fit the quota together is refused as soon as they stop fitting, and
// stores none of them, though the first alone would fit.
func TestMultiappendOverQuotaStoresNone(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	env.store.SetQuota(alice, 100)
	conn := dialRaw(t, env.tlsAddr, true)
	conn.line()
	msg := "Subject: x\r\n\r\n" + strings.Repeat("y", 50) + "\r\n"
	conn.send("a LOGIN alice secret\r\nb APPEND INBOX {66+}\r\n" + msg + " {66+}\r\n" + msg + "\r\n")
	lines := conn.until("b ")
	if got := lines[len(lines)-1]; !strings.HasPrefix(got, "b NO [OVERQUOTA]") {
		t.Fatalf("MULTIAPPEND over quota: %q", got)
	}
	if snap, _ := env.store.Messages(alice, "INBOX"); len(snap.Messages) != 0 {
		t.Errorf("%d messages stored, want none", len(snap.Messages))
	}
	conn.send("c NOOP\r\n")
	if got := conn.until("c "); got[len(got)-1] != "c OK NOOP completed" {
		t.Errorf("the session did not go on: %q", got)
	}
}
