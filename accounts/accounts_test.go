package accounts

import (
	"context"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func isLocal(d string) bool { return d == "example.com" || d == "example.org" }

func TestAccountsAddAuthenticateReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server, err := OpenAccounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := OpenAccounts(dir) // a second process: `mailgate user add`
	if err := cli.Add(Account{Address: "Alice@example.com", Aliases: []string{"al@example.com"}, SendAs: []string{"@example.org"}}, "s3cret pass"); err != nil {
		t.Fatal(err)
	}
	server.checked = server.checked.Add(-2e9) // pretend a second passed
	acct, err := server.Authenticate(context.Background(), "alice@EXAMPLE.com", "s3cret pass")
	if err != nil || acct != "Alice@example.com" {
		t.Fatalf("Authenticate = %q, %v", acct, err)
	}
	if _, err := server.Authenticate(context.Background(), "alice@example.com", "wrong"); err != ErrAuthFailed {
		t.Fatalf("wrong password: err = %v, want ErrAuthFailed", err)
	}
	if _, err := server.Authenticate(context.Background(), "al@example.com", "s3cret pass"); err != ErrAuthFailed {
		t.Fatalf("login with an alias: err = %v, want ErrAuthFailed", err)
	}
	data, _ := os.ReadFile(server.Path())
	if strings.Contains(string(data), "s3cret") || !strings.Contains(string(data), "$argon2id$") {
		t.Fatalf("accounts file must hold an argon2id hash only:\n%s", data)
	}
	if err := cli.Add(Account{Address: "alice@example.com"}, "x"); err == nil {
		t.Fatal("adding an existing account succeeded")
	}
}

func TestSendAs(t *testing.T) {
	t.Parallel()
	a, _ := OpenAccounts(t.TempDir())
	a.Add(Account{Address: "app@example.com", Aliases: []string{"billing@example.com"}, SendAs: []string{"noreply@example.net", "@example.org"}}, "pw")
	for addr, want := range map[string]bool{
		"app@example.com": true, "APP@example.com": true, "billing@example.com": true,
		"noreply@example.net": true, "anyone@example.org": true, "ceo@example.com": false,
		"x@sub.example.org": false, "": false, "anyone@EXAMPLE.ORG": true,
		"x@example.org.evil": false, "x@evil-example.org": false, "x@example.orgx": false,
		"@example.org": false, "example.org": false, "x@example.org@evil.test": false,
		"evil.test@example.org@": false, "@evil.test:x@example.org": false,
		"noreply@example.net.": false, "noreply+x@example.net": false,
	} {
		if got := a.SendAs("app@example.com", addr); got != want {
			t.Errorf("SendAs(app, %q) = %v, want %v", addr, got, want)
		}
	}
}

func TestExpandAndLookup(t *testing.T) {
	t.Parallel()
	a, _ := OpenAccounts(t.TempDir())
	a.Add(Account{Address: "alice@example.com", Aliases: []string{"postmaster@example.com"}}, "pw")
	a.Add(Account{Address: "bob@example.com"}, "pw")
	a.edit(func(f *accountsFile) error {
		f.Forwards = map[string][]string{
			"team@example.com": {"alice@example.com", "bob@example.com", "carol@remote.test"},
			"loop@example.com": {"loop2@example.com"}, "loop2@example.com": {"loop@example.com"},
		}
		f.CatchAll = map[string]string{"example.org": "bob@example.com"}
		return nil
	})
	cases := []struct {
		addr string
		want []string
	}{
		{"alice@example.com", []string{"alice@example.com"}},
		{"ALICE@Example.COM", []string{"alice@example.com"}},
		{"alice+lists@example.com", []string{"alice+lists@example.com"}},
		{"postmaster@example.com", []string{"alice@example.com"}},
		{"team@example.com", []string{"alice@example.com", "bob@example.com", "carol@remote.test"}},
		{"nobody@example.com", nil},
		{"loop@example.com", nil},
		{"whoever@example.org", []string{"bob@example.com"}},
	}
	for _, c := range cases {
		got, ok := a.Expand(c.addr, isLocal)
		if !reflect.DeepEqual(got, c.want) || ok != (c.want != nil) {
			t.Errorf("Expand(%q) = %v, %v; want %v", c.addr, got, ok, c.want)
		}
	}
	acc, folder, ok := a.Lookup("alice+lists@example.com")
	if !ok || acc != "alice@example.com" || folder != "lists" {
		t.Errorf("Lookup(alice+lists) = %q, %q, %v", acc, folder, ok)
	}
}

// TestConcurrentLogins: a burst of logins with the same credentials all
// succeed through the shared check, leave no check pending and one cache
// entry, and a wrong password is still refused.
func TestConcurrentLogins(t *testing.T) {
	t.Parallel()
	a, _ := OpenAccounts(t.TempDir())
	a.Add(Account{Address: "app@example.com"}, "pw")
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Authenticate(context.Background(), "app@example.com", "pw"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(a.logins.pending) != 0 || len(a.logins.ok) != 1 {
		t.Fatalf("pending=%d cache=%d after the burst; want 0 and 1", len(a.logins.pending), len(a.logins.ok))
	}
	if _, err := a.Authenticate(context.Background(), "app@example.com", "bad"); err != ErrAuthFailed {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestRateLimitRoundTrip: an account's own rate limit is written to
// accounts.yaml in a form people can edit, and read back.
func TestRateLimitRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, _ := OpenAccounts(dir)
	a.Add(Account{Address: "app@example.com"}, "pw")
	if _, ok := a.RateLimit("app@example.com"); ok {
		t.Fatal("a new account has a rate limit of its own")
	}
	want := RateLimit{Messages: 20000, Recipients: 100000, Period: time.Minute}
	if err := a.SetRateLimit("APP@example.com", &want); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(a.Path())
	if !strings.Contains(string(data), "rate_limit:\n        messages: 20000\n        recipients: 100000\n        period: 1m0s\n") {
		t.Errorf("accounts.yaml:\n%s", data)
	}
	b, _ := OpenAccounts(dir)
	if got, ok := b.RateLimit("app@example.com"); !ok || got != want {
		t.Errorf("read back %+v, %v", got, ok)
	}
	if err := a.SetRateLimit("app@example.com", &RateLimit{Messages: 5}); err == nil {
		t.Error("a limit without period was accepted")
	}
	a.SetRateLimit("app@example.com", nil)
	if _, ok := a.RateLimit("app@example.com"); ok {
		t.Error("nil did not remove the account's own limit")
	}
}

// A disabled account's password no longer logs in, even one cached as
// good a moment before; enabling it again restores the login.
func TestDisabledAccountCannotLogIn(t *testing.T) {
	t.Parallel()
	a, err := OpenAccounts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Add(Account{Address: "bob@example.com"}, "pw-bob-123"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "bob@example.com", "pw-bob-123"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDisabled("bob@example.com", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "bob@example.com", "pw-bob-123"); err != ErrAuthFailed {
		t.Fatalf("disabled: err = %v, want ErrAuthFailed", err)
	}
	if err := a.SetDisabled("bob@example.com", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "bob@example.com", "pw-bob-123"); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
}
