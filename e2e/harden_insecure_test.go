package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestInsecureAuthPerListener runs two clear-text IMAP and two POP3
// listeners, allow_insecure_auth on one of each: a clear-text login works
// on that one only (issue 14: one such listener turned it on for every
// listener of the protocol), and STARTTLS still works on the other.
func TestInsecureAuthPerListener(t *testing.T) {
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submission", "imap", "pop3"},
		Users:     map[string]string{"alice@localhost": "correct horse"},
	})
	if code := srv.Stop(); code != 0 {
		t.Fatalf("first stop: exit %d", code)
	}
	imapOpen, pop3Open := mgtest.FreeAddr(t), mgtest.FreeAddr(t)
	b, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	more := fmt.Sprintf("  - name: imap-local\n    protocol: imap\n    address: %s\n    allow_insecure_auth: true\n"+
		"  - name: pop3-local\n    protocol: pop3\n    address: %s\n    allow_insecure_auth: true\n", imapOpen, pop3Open)
	cfg := strings.Replace(string(b), "delivery:\n", more+"delivery:\n", 1)
	if err := os.WriteFile(srv.ConfigPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()

	if r := imapLogin(t, "127.0.0.1", imapOpen, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "a OK") {
		t.Errorf("IMAP LOGIN on the listener with allow_insecure_auth: %q", r)
	}
	if r := imapLogin(t, "127.0.0.1", srv.Addr["imap"], "alice@localhost", "correct horse"); !strings.HasPrefix(r, "a NO [PRIVACYREQUIRED]") {
		t.Errorf("IMAP LOGIN in clear text on the other listener: %q", r)
	}
	if r := pop3Login(t, "127.0.0.1", pop3Open, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "+OK") {
		t.Errorf("POP3 login on the listener with allow_insecure_auth: %q", r)
	}
	if r := pop3Login(t, "127.0.0.1", srv.Addr["pop3"], "alice@localhost", "correct horse"); !strings.HasPrefix(r, "-ERR [AUTH] login is refused before TLS") {
		t.Errorf("POP3 login in clear text on the other listener: %q", r)
	}
	// The other listeners still log in over STARTTLS / STLS.
	failIMAP(t, srv)
	failPOP3(t, srv)
}
