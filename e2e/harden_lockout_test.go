package e2e

import (
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestLockedOutLoginsLogLittle retries logins from a locked-out address
// on SMTP, IMAP and POP3 and measures the log that costs: it must not
// grow with the number of refused attempts (issue 14: 708,931 attempts in
// 60 s made 123 MB of log). The figure is in TESTING.md.
func TestLockedOutLoginsLogLittle(t *testing.T) {
	srv := loginServer(t, "")
	sub, imap, pop := srv.Addr["submission"], srv.Addr["imap"], srv.Addr["pop3"]
	for range 3 {
		if r := smtpAuth(t, "127.0.0.1", sub, "alice@localhost", "wrong"); !strings.HasPrefix(r, "535") && !strings.HasPrefix(r, "454") {
			t.Fatalf("wrong password: %q", r)
		}
	}
	before := len(srv.Logs())
	const n = 200 // attempts per protocol
	for range n {
		if r := smtpAuth(t, "127.0.0.1", sub, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "454 4.7.0") {
			t.Fatalf("SMTP AUTH from a locked address: %q", r)
		}
		if r := imapLogin(t, "127.0.0.1", imap, "alice@localhost", "correct horse"); !strings.Contains(r, "NO") {
			t.Fatalf("IMAP LOGIN from a locked address: %q", r)
		}
		if r := pop3Login(t, "127.0.0.1", pop, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "-ERR") {
			t.Fatalf("POP3 PASS from a locked address: %q", r)
		}
	}
	// Another address is not locked out; its login marks the end.
	if r := smtpAuth(t, "127.0.0.2", sub, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "235") {
		t.Fatalf("login from another address: %q", r)
	}
	srv.WaitLog("auth success")
	grown := len(srv.Logs()) - before
	t.Logf("log for %d refused attempts (SMTP, IMAP and POP3, %d each): %d bytes, %.1f bytes per attempt", 3*n, n, grown, float64(grown)/(3*n))
	if grown > 4096 {
		t.Errorf("%d refused attempts wrote %d bytes of log; want a few lines, not one per attempt", 3*n, grown)
	}
}

// TestAccountLockoutAcrossAddresses guesses one account's password from
// several addresses, each under the per-address limit and on different
// protocols: the account is then refused to a new address even with the
// right password, while its owner's address still logs in.
func TestAccountLockoutAcrossAddresses(t *testing.T) {
	srv := loginServer(t, "  max_account_failures: 4\n")
	sub, imap, pop := srv.Addr["submission"], srv.Addr["imap"], srv.Addr["pop3"]
	if r := imapLogin(t, "127.0.0.1", imap, "alice@localhost", "correct horse"); !strings.Contains(r, "OK") {
		t.Fatalf("owner's login: %q", r)
	}
	smtpAuth(t, "127.0.0.10", sub, "alice@localhost", "guess1")
	imapLogin(t, "127.0.0.11", imap, "alice@localhost", "guess2")
	pop3Login(t, "127.0.0.12", pop, "alice@localhost", "guess3")
	smtpAuth(t, "127.0.0.13", sub, "alice@localhost", "guess4")
	srv.WaitLog(`msg="login lockout" account=alice@localhost failures=4`)
	if r := smtpAuth(t, "127.0.0.20", sub, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "454 4.7.0") {
		t.Errorf("SMTP AUTH to a locked account from a new address: %q", r)
	}
	if r := pop3Login(t, "127.0.0.21", pop, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "-ERR [AUTH] too many") {
		t.Errorf("POP3 login to a locked account from a new address: %q", r)
	}
	if r := imapLogin(t, "127.0.0.1", imap, "alice@localhost", "correct horse"); !strings.Contains(r, "a OK") {
		t.Errorf("owner's address locked out of its own account: %q", r)
	}
	if r := smtpAuth(t, "127.0.0.1", sub, "alice@localhost", "correct horse"); !strings.HasPrefix(r, "235") {
		t.Errorf("owner's SMTP AUTH: %q", r)
	}
}

// loginServer runs submission, IMAP and POP3 with clear-text logins for
// loopback clients (attack loops without TLS), the account
// alice@localhost and 3 failures per address; auth is more auth keys.
func loginServer(t *testing.T, auth string) *mgtest.Server {
	t.Helper()
	insecure := "allow_insecure_auth: true"
	return startWithListenerKeys(t, mgtest.Options{
		Protocols: []string{"submission", "submissions", "imap", "pop3"},
		Users:     map[string]string{"alice@localhost": "correct horse"},
		Config:    "auth:\n  max_failures: 3\n  delay: 1ms\n" + auth,
	}, map[string]string{"submission": insecure, "imap": insecure, "pop3": insecure})
}
