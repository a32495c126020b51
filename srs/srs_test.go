package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fixed [][]byte

func (f fixed) Secrets() [][]byte { return f }

var day0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func rewriter(at time.Time, keys ...string) *Rewriter {
	var s fixed
	for _, k := range keys {
		s = append(s, []byte(k))
	}
	return &Rewriter{Keys: s, Now: func() time.Time { return at }}
}

func TestForwardReverse(t *testing.T) {
	r := rewriter(day0, "secret-one-16byt")
	got, err := r.Forward("Alice@Example.org", "fwd.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "SRS0=") || !strings.HasSuffix(got, "=Example.org=Alice@fwd.example") {
		t.Fatalf("Forward = %q", got)
	}
	back, err := r.Reverse(got)
	if err != nil || back != "Alice@Example.org" {
		t.Fatalf("Reverse(%q) = %q, %v", got, back, err)
	}
	// Servers that lower-case the local part: still accepted.
	if back, err := r.Reverse(strings.ToLower(got)); err != nil || !strings.EqualFold(back, "alice@example.org") {
		t.Fatalf("lower-case Reverse = %q, %v", back, err)
	}
}

func TestNullSenderNeverRewritten(t *testing.T) {
	got, err := rewriter(day0, "k").Forward("", "fwd.example")
	if got != "" || err != nil {
		t.Fatalf("Forward(<>) = %q, %v", got, err)
	}
}

func TestReverseRefuses(t *testing.T) {
	r := rewriter(day0, "secret-one-16byt")
	good, _ := r.Forward("bob@example.org", "fwd.example")
	h := strings.Split(good, "=")[1]
	cases := map[string]error{
		"plain@fwd.example":                        ErrNotSRS,
		"srs0@fwd.example":                         ErrNotSRS,
		strings.Replace(good, "bob", "eve", 1):     ErrForged,
		strings.Replace(good, h, "AAAA", 1):        ErrForged,
		"SRS0=AAAA=ZZ=example.org=bob@fwd.example": ErrForged,
		"SRS0=x@fwd.example":                       ErrForged,
		"SRS1=AAAA=hop.example==x=y@fwd.example":   ErrForged,
		"SRS0==@fwd.example":                       ErrForged,
	}
	for addr, want := range cases {
		if _, err := r.Reverse(addr); !errors.Is(err, want) {
			t.Errorf("Reverse(%q) = %v, want %v", addr, err, want)
		}
	}
}

func TestAgeLimit(t *testing.T) {
	addr, _ := rewriter(day0, "k").Forward("bob@example.org", "fwd.example")
	for _, tc := range []struct {
		days int
		want error
	}{{0, nil}, {21, nil}, {22, ErrExpired}, {-1, ErrExpired}} {
		r := rewriter(day0.Add(time.Duration(tc.days)*24*time.Hour), "k")
		if _, err := r.Reverse(addr); !errors.Is(err, tc.want) {
			t.Errorf("after %d days: %v, want %v", tc.days, err, tc.want)
		}
	}
}

func TestSRS1Chain(t *testing.T) {
	first := rewriter(day0, "first-forwarder!")
	second := rewriter(day0, "second-forwarder")
	a0, _ := first.Forward("carol@example.org", "one.example")
	a1, err := second.Forward(a0, "two.example")
	if err != nil || !strings.HasPrefix(a1, "SRS1=") || !strings.Contains(a1, "=one.example==") {
		t.Fatalf("SRS1 = %q, %v", a1, err)
	}
	// A third forwarder keeps the first hop.
	a2, _ := rewriter(day0, "third-forwarder!").Forward(a1, "three.example")
	if !strings.Contains(a2, "=one.example==") || !strings.HasSuffix(a2, "@three.example") {
		t.Fatalf("re-forwarded SRS1 = %q", a2)
	}
	back, err := second.Reverse(a1)
	if err != nil || back != a0 {
		t.Fatalf("Reverse SRS1 = %q, %v; want %q", back, err, a0)
	}
	if orig, err := first.Reverse(back); err != nil || orig != "carol@example.org" {
		t.Fatalf("Reverse at first hop = %q, %v", orig, err)
	}
}

func TestRotationKeepsOldKey(t *testing.T) {
	dir := t.TempDir()
	keys, err := OpenKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, KeysName)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode())
	}
	now := day0
	keys.now = func() time.Time { return now }
	r := &Rewriter{Keys: keys, Now: func() time.Time { return day0 }}
	old, _ := r.Forward("dave@example.org", "fwd.example")
	for i := 0; i < keepOld; i++ {
		if err := Rotate(dir); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Second)
	// Force a reread even on file systems with coarse mtimes.
	keys.mod = time.Time{}
	if got, _ := r.Forward("dave@example.org", "fwd.example"); got == old {
		t.Fatal("the signing key did not change after rotation")
	}
	if _, err := r.Reverse(old); err != nil {
		t.Fatalf("an address made with the old key: %v", err)
	}
	if err := Rotate(dir); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	keys.mod = time.Time{}
	if _, err := r.Reverse(old); !errors.Is(err, ErrForged) {
		t.Fatalf("a key rotated out %d times ago still verifies: %v", keepOld+1, err)
	}
}

func TestBrokenKeyFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, KeysName), []byte("not base64!\n"), 0o600)
	if _, err := OpenKeys(dir); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("OpenKeys = %v", err)
	}
}

// TestExpand: the relay's view of an SRS address in our domain.
func TestExpand(t *testing.T) {
	rw := rewriter(day0, "secret-one-16byt")
	addr, _ := rw.Forward("a@origin.test", "fwd.test")
	next := func(a string) ([]string, bool) { return []string{"next:" + a}, true }
	if got, ok := rw.Expand(addr, next); !ok || len(got) != 1 || got[0] != "a@origin.test" {
		t.Errorf("Expand(%q) = %v, %v", addr, got, ok)
	}
	if got, ok := rw.Expand("SRS0=AAAA=AA=origin.test=a@fwd.test", next); ok {
		t.Errorf("a forged address expanded to %v", got)
	}
	later := rewriter(day0.Add(22*24*time.Hour), "secret-one-16byt")
	if got, ok := later.Expand(addr, next); ok {
		t.Errorf("an expired address expanded to %v", got)
	}
	if got, _ := rw.Expand("bob@fwd.test", next); got[0] != "next:bob@fwd.test" {
		t.Errorf("an ordinary address: %v", got)
	}
}
