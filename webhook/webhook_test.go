package webhook

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSignIsHMACOfTimeDotBody(t *testing.T) {
	// Python: hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
	got := Sign("whsec_x", 1700000000, []byte(`{"a":1}`))
	if want := "t=1700000000,v1=b3438763ab46d9634b9844c8722818eaf523f803db1327484c6067462a5fd6d1"; got != want {
		t.Fatalf("Sign: %s, want %s", got, want)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 10 * time.Second, 2: 20 * time.Second, 6: 320 * time.Second, 9: 2560 * time.Second, 10: time.Hour, 50: time.Hour} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

// TestOutboxSurvivesRestart: an event the receiver refused stays in the
// outbox; a new dispatcher on the same directory sends it.
func TestOutboxSurvivesRestart(t *testing.T) {
	var ok atomic.Bool
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ok.Load() {
			w.WriteHeader(500)
			return
		}
		got.Add(1)
	}))
	defer srv.Close()
	dir := t.TempDir()
	hooks, _ := OpenHooks(dir)
	if _, err := hooks.Add("app@example.com", srv.URL, []string{Bounced}); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Dir: dir, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	d.Emit(Event{Type: Bounced, Time: time.Now(), Account: "app@example.com", Recipient: "x@example.org"})
	d.Emit(Event{Type: Delivered, Time: time.Now(), Account: "app@example.com", Recipient: "y@example.org"}) // not wanted
	waitFor(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json"))
		b, _ := os.ReadFile(append(files, "")[0])
		return strings.Contains(string(b), `"attempts":1`)
	})
	d.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json"))
	if len(files) != 1 {
		t.Fatalf("outbox: %v", files)
	}
	ok.Store(true)
	d2, err := New(Options{Dir: dir, Hooks: hooks, Now: func() time.Time { return time.Now().Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	d2.Start()
	defer d2.Close()
	waitFor(t, func() bool { return got.Load() == 1 })
	waitFor(t, func() bool { _, err := os.Stat(files[0]); return os.IsNotExist(err) })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 30s")
}
