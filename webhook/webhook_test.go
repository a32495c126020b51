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
	evs := []Event{{Type: Bounced, Time: time.Now(), Account: "app@example.com", Recipient: "x@example.org"},
		{Type: Delivered, Time: time.Now(), Account: "app@example.com", Recipient: "y@example.org"}} // not wanted
	if err := d.Record(evs); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.json")); len(files) != 1 {
		t.Fatalf("outbox right after Record: %v; want the bounced event on disk", files)
	}
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

// TestEventIDStable: a final event told twice (before and after a crash)
// has one ID; deferrals of different attempts do not.
func TestEventIDStable(t *testing.T) {
	if EventID("q1", 0, 1, Delivered) != EventID("q1", 0, 2, Delivered) {
		t.Error("delivered: the ID changes with the attempt")
	}
	if EventID("q1", 0, 1, Deferred) == EventID("q1", 0, 2, Deferred) {
		t.Error("deferred: two attempts share an ID")
	}
	if EventID("q1", 0, 1, Bounced) == EventID("q1", 1, 1, Bounced) || EventID("q1", 0, 1, Bounced) == EventID("q1", 0, 1, Suppressed) {
		t.Error("IDs of different recipients or types collide")
	}
}
