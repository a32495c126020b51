package ldapdir

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"mailgate/accounts"
	"mailgate/config"
)

// downDirectory is a Directory whose server does not listen.
func downDirectory(t *testing.T) *Directory {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d, err := New(config.LDAP{URL: "ldap://" + addr, BaseDN: "dc=x", Filter: "(mail=%s)", AddressAttribute: "mail",
		CacheFor: config.Duration(time.Minute), Timeout: config.Duration(2 * time.Second)}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDirectoryDown: an empty password is refused before anything is
// asked (it would be an anonymous bind); with the server down a login is
// ErrUnavailable (temporary), not ErrAuthFailed, and Unreachable says so;
// an entry that expired less than staleFor ago still answers.
func TestDirectoryDown(t *testing.T) {
	d := downDirectory(t)
	if _, err := d.Authenticate(context.Background(), "carol@example.com", ""); !errors.Is(err, accounts.ErrAuthFailed) {
		t.Errorf("empty password: %v; want ErrAuthFailed", err)
	}
	if d.Unreachable() {
		t.Error("an empty password asked the directory")
	}
	_, err := d.Authenticate(context.Background(), "carol@example.com", "pw")
	var tmp interface{ Temporary() bool }
	if !errors.As(err, &tmp) || !tmp.Temporary() || !d.Unreachable() {
		t.Errorf("login with the directory down: %v (unreachable %v); want a temporary error", err, d.Unreachable())
	}
	now := time.Now()
	d.now = func() time.Time { return now }
	d.cache["dave@example.com"] = entry{acc: accounts.Account{Address: "dave@example.com"}, found: true, until: now.Add(-time.Minute)}
	if acc, ok := d.Find("Dave@example.com"); !ok || acc.Address != "dave@example.com" {
		t.Errorf("stale entry with the directory down: %v %v; want it found", acc, ok)
	}
	d.cache["dave@example.com"] = entry{acc: accounts.Account{Address: "dave@example.com"}, found: true, until: now.Add(-staleFor - time.Minute)}
	if _, ok := d.Find("dave@example.com"); ok {
		t.Error("an entry expired longer than staleFor ago still answers")
	}
}
