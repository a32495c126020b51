package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/smtptest"
)

// TestSmarthostOneCopyPerMessage: with a smarthost (implicit TLS, AUTH),
// a message to recipients in three domains is one transaction at the
// smarthost (one connection, one AUTH, one copy with three RCPTs), not
// one per domain.
func TestSmarthostOneCopyPerMessage(t *testing.T) {
	t.Parallel()
	sink := smtptest.Start(t, smtptest.Config{ImplicitTLS: true, AuthUser: "relayuser", AuthPass: "relay-pw"})
	dir := t.TempDir()
	ca, pw := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "relay.pw")
	os.WriteFile(ca, sink.CertPEM(), 0o600)
	os.WriteFile(pw, []byte("relay-pw\n"), 0o600)
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submissions"},
		Users:     map[string]string{user: pass},
		Delivery: fmt.Sprintf("  smarthost:\n    host: 127.0.0.1\n    port: %d\n    tls: implicit\n    username: relayuser\n"+
			"    password_file: %s\n    ca_file: %s\n", sink.Port(), pw, ca),
	})
	rcpts := []string{"a@one.test", "b@two.test", "c@three.test"}
	c, err := dialSubmission(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail(user, rcpts, strings.NewReader(faultMessage("smarthost-one-copy", 3))); err != nil {
		t.Fatalf("submission: %v", err)
	}
	waitLogCount(t, srv, "msg=delivered ", 3)
	got := sink.Messages()
	if len(got) != 1 {
		t.Fatalf("the smarthost got %d copies, want 1 for all three domains", len(got))
	}
	m := got[0]
	if !slices.Equal(m.Rcpts, rcpts) || m.AuthUser != "relayuser" || m.ConnID != 1 {
		t.Errorf("smarthost got rcpts %v, auth %q, on connection %d; want %v, relayuser, the first", m.Rcpts, m.AuthUser, m.ConnID, rcpts)
	}
}
