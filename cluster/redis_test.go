package cluster

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"mailgate/config"
	"mailgate/internal/testenv"
)

// startRedis runs redis-server on a free loopback port for one test,
// with extra arguments (such as --requirepass).
func startRedis(t *testing.T, extra ...string) string {
	t.Helper()
	testenv.Tool(t, "redis-server") // skipped on a laptop without it, fails in CI
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	args := append([]string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatalf("redis-server did not listen on %s", addr)
	return ""
}

func openRedis(t *testing.T, addr string) *Redis {
	t.Helper()
	r, err := OpenRedis(config.Redis{Address: addr, KeyPrefix: "t:", Timeout: config.Duration(2 * time.Second)},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestGCRA takes from one bucket through two clients (two nodes): the
// limit is admitted exactly, a refused multi-bucket take takes nothing,
// and Has does not take.
func TestGCRA(t *testing.T) {
	addr := startRedis(t)
	a, b := NewRateLimits(openRedis(t, addr)), NewRateLimits(openRedis(t, addr))
	acct := Bucket{Key: "account-m:app", Limit: 7, Period: time.Hour, N: 1}
	admitted := 0
	for i := range 20 {
		l := []*RateLimits{a, b}[i%2]
		over, err := l.Take([]Bucket{acct})
		if err != nil {
			t.Fatal(err)
		}
		if over < 0 {
			admitted++
		}
	}
	if admitted != 7 {
		t.Errorf("admitted %d of 20 across two clients; want exactly 7", admitted)
	}
	if ok, err := a.Has(acct); err != nil || ok {
		t.Errorf("Has on a spent bucket = %v, %v; want false", ok, err)
	}
	fresh := Bucket{Key: "dom:example.net", Limit: 2, Period: time.Hour, N: 1}
	if over, err := a.Take([]Bucket{fresh, acct}); err != nil || over != 1 {
		t.Fatalf("take over the second bucket: %d, %v; want 1", over, err)
	}
	for i := range 2 {
		if ok, _ := a.Has(fresh); !ok {
			t.Fatalf("the refused take took from the first bucket (Has false after %d takes)", i)
		}
		if over, _ := a.Take([]Bucket{fresh}); over != -1 {
			t.Fatalf("take %d of a 2-bucket refused", i+1)
		}
	}
}

// TestLockoutShared locks an IP out through one client and sees it
// from another; a good login from an address makes it exempt from its
// account's lockout.
func TestLockoutShared(t *testing.T) {
	addr := startRedis(t)
	lim := LockoutLimits{MaxFailures: 3, MaxAccountFailures: 4, Window: time.Minute, Lockout: time.Minute, TrustedFor: time.Hour}
	a, b := NewLockouts(openRedis(t, addr), lim), NewLockouts(openRedis(t, addr), lim)
	if err := b.Succeed("192.0.2.50", "bob"); err != nil {
		t.Fatal(err)
	}
	var res FailResult
	for i := range 3 {
		var err error
		if res, err = a.Fail("192.0.2.1", "bob"); err != nil {
			t.Fatal(err)
		}
		if res.Locked != (i == 2) || res.IPLocked != (i == 2) {
			t.Fatalf("failure %d: %+v", i+1, res)
		}
	}
	if r, _ := b.Refused("192.0.2.1", ""); !r {
		t.Error("the other node does not refuse the locked IP")
	}
	res, _ = a.Fail("192.0.2.2", "bob") // the account's 4th failure
	if !res.AccountLocked || !res.Locked {
		t.Errorf("4th account failure: %+v; want the account locked", res)
	}
	for ip, want := range map[string]bool{"192.0.2.3": true, "192.0.2.50": false} {
		if r, _ := b.Refused(ip, "bob"); r != want {
			t.Errorf("Refused(%s, bob) = %v; want %v", ip, r, want)
		}
	}
}

// TestRedisDownBacksOff checks that a dead Redis answers with an error
// within the timeout, then with ErrDown at once during the backoff.
func TestRedisDownBacksOff(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r := openRedis(t, addr)
	lo := NewLockouts(r, LockoutLimits{MaxFailures: 3, MaxAccountFailures: 3, Window: time.Minute, Lockout: time.Minute, TrustedFor: time.Hour})
	if _, err := lo.Refused("192.0.2.1", ""); err == nil || errors.Is(err, ErrDown) {
		t.Fatalf("first request to a dead Redis: %v; want a connection error", err)
	}
	if _, err := lo.Refused("192.0.2.1", ""); !errors.Is(err, ErrDown) {
		t.Fatalf("second request: %v; want ErrDown during the backoff", err)
	}
}

// TestRedisPassword logs in with password_file; a wrong password is an
// error like any other (the failure policy applies).
func TestRedisPassword(t *testing.T) {
	addr := startRedis(t, "--requirepass", "s3cret-pw")
	for pw, wantErr := range map[string]bool{"s3cret-pw\n": false, "wrong": true} {
		file := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(file, []byte(pw), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := OpenRedis(config.Redis{Address: addr, PasswordFile: file, KeyPrefix: "t:", Timeout: config.Duration(2 * time.Second)},
			slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewRateLimits(r).Take([]Bucket{{Key: "k", Limit: 1, Period: time.Minute, N: 1}})
		if (err != nil) != wantErr {
			t.Errorf("password %q: err %v; want error %v", pw, err, wantErr)
		}
		r.Close()
	}
}
