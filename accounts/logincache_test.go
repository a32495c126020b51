package accounts

import (
	"context"
	"testing"
	"time"
)

// TestLoginCacheKeyed: entries are keyed by a per-process secret (two
// caches never share one), and by every part of the login.
func TestLoginCacheKeyed(t *testing.T) {
	t.Parallel()
	c1, _ := newLoginCache(time.Now)
	c2, _ := newLoginCache(time.Now)
	if c1.entry("a@x", "pw", "h") == c2.entry("a@x", "pw", "h") {
		t.Error("two processes' caches share an entry: the key is not random")
	}
	seen := map[[32]byte]string{}
	for _, l := range [][3]string{{"a@x", "pw", "h"}, {"a@x", "pw2", "h"}, {"a@x", "pw", "h2"}, {"b@x", "pw", "h"}, {"a@x", "p", "wh"}, {"a@x", "pw\x00", "h"}} {
		e := c1.entry(l[0], l[1], l[2])
		if prev, ok := seen[e]; ok {
			t.Errorf("%q and %q share an entry", prev, l)
		}
		seen[e] = l[0] + "|" + l[1] + "|" + l[2]
	}
}

// TestLoginCacheRemembersOnlySuccess: a failed check leaves nothing; a
// good one is answered from the cache until loginTTL passes, then checked
// against the hash again; the cache never holds more than maxLogins.
func TestLoginCacheRemembersOnlySuccess(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c, _ := newLoginCache(func() time.Time { return now })
	hash, _ := HashPassword("right")
	if c.check("a@x", "wrong", hash) || len(c.ok) != 0 {
		t.Fatalf("wrong password: accepted or remembered (%d entries)", len(c.ok))
	}
	if !c.check("a@x", "right", hash) || len(c.ok) != 1 {
		t.Fatalf("right password: refused or not remembered (%d entries)", len(c.ok))
	}
	// Answered from the cache: the entry stands for the verified hash.
	c.ok[c.entry("a@x", "cached", "not-a-hash")] = now.Add(loginTTL)
	if !c.check("a@x", "cached", "not-a-hash") {
		t.Fatal("a remembered login was checked again")
	}
	now = now.Add(loginTTL)
	if c.check("a@x", "cached", "not-a-hash") {
		t.Fatal("an expired entry still logs in")
	}
	for i := range maxLogins + 5 {
		c.ok[c.entry("a@x", string(rune(i)), hash)] = now.Add(time.Hour)
	}
	c.check("a@x", "right", hash)
	if len(c.ok) > maxLogins+5 || len(c.ok) == 0 {
		t.Fatalf("%d entries after adding past the bound", len(c.ok))
	}
	c.forget()
	if len(c.ok) != 0 {
		t.Fatal("forget left entries")
	}
}

// TestLoginSeesOtherWritersAtOnce: another process (mailgate user) that
// changes a password, disables or deletes the account is obeyed on the
// very next login, though that login was remembered a moment before.
func TestLoginSeesOtherWritersAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server, _ := OpenAccounts(dir)
	if err := server.Add(Account{Address: "app@example.com"}, "old-pw"); err != nil {
		t.Fatal(err)
	}
	cli, _ := OpenAccounts(dir)
	ctx := context.Background()
	login := func(step, pw string, want bool) {
		t.Helper()
		_, err := server.Authenticate(ctx, "app@example.com", pw)
		if (err == nil) != want {
			t.Fatalf("%s: err = %v, want success %v", step, err, want)
		}
	}
	login("first", "old-pw", true)
	login("cached", "old-pw", true)
	if err := cli.SetPassword("app@example.com", "new-pw"); err != nil {
		t.Fatal(err)
	}
	login("old password after passwd", "old-pw", false)
	login("new password", "new-pw", true)
	if err := cli.SetDisabled("app@example.com", true); err != nil {
		t.Fatal(err)
	}
	login("disabled", "new-pw", false)
	if err := cli.SetDisabled("app@example.com", false); err != nil {
		t.Fatal(err)
	}
	login("enabled", "new-pw", true)
	if err := cli.Delete("app@example.com"); err != nil {
		t.Fatal(err)
	}
	login("deleted", "new-pw", false)
}

// BenchmarkAuthenticateCached is one login answered from the login cache
// (what an application sending a message per connection pays after its
// first login): the look at accounts.yaml, the lookup and the HMAC.
func BenchmarkAuthenticateCached(b *testing.B) {
	a, _ := OpenAccounts(b.TempDir())
	if err := a.Add(Account{Address: "app@example.com"}, "pw-bench-1"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Authenticate(ctx, "app@example.com", "pw-bench-1"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.Authenticate(ctx, "app@example.com", "pw-bench-1"); err != nil {
			b.Fatal(err)
		}
	}
}
