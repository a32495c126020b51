package inodepool

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPutThenOpenNewReusesTheEmptiedInode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := New(dir)
	old := filepath.Join(dir, "a.msg")
	write(t, old, "secret old content")
	before, _ := os.Stat(old)
	if err := p.Put(old); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("the old name still exists: %v", err)
	}
	fresh := filepath.Join(dir, "b.msg")
	f, err := p.OpenNew(fresh, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new")
	f.Close()
	after, _ := os.Stat(fresh)
	if !os.SameFile(before, after) {
		t.Error("OpenNew created a new inode instead of reusing the pooled one")
	}
	if b, _ := os.ReadFile(fresh); string(b) != "new" {
		t.Errorf("reused file holds %q, want only the new content", b)
	}
	if err := p.Put(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("Put of a missing file: %v", err)
	}
}

// A file with another hard link is never emptied: the other name (a
// COPY in another Maildir folder) keeps its content.
func TestPutLeavesHardLinkedContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := New(dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write(t, a, "shared content")
	if err := os.Link(a, b); err != nil {
		t.Skip("no hard links here:", err)
	}
	if err := p.Put(a); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b); string(got) != "shared content" {
		t.Errorf("the other link now holds %q", got)
	}
	if p.Take(filepath.Join(dir, "c")) {
		t.Error("a hard-linked file was pooled")
	}
}

func TestAdoptEmptiesLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	left := "1-1" + Suffix
	write(t, filepath.Join(dir, left), "content a crash left before the truncate")
	p := New(dir)
	p.Adopt(left)
	dst := filepath.Join(dir, "new")
	f, err := p.OpenNew(dst, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, _ := os.Stat(dst); fi.Size() != 0 {
		t.Errorf("adopted file handed out with %d bytes", fi.Size())
	}
}

// Claim hands out a pooled file where it lies, empty; the pool is then
// empty until the next Put.
func TestClaim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := NewNoLinks(dir)
	old := filepath.Join(dir, "a.msg")
	write(t, old, "old content")
	before, _ := os.Stat(old)
	if err := p.Put(old); err != nil {
		t.Fatal(err)
	}
	path, size, ok := p.Claim(0)
	if !ok {
		t.Fatal("Claim found nothing after a Put")
	}
	after, err := os.Stat(path)
	if err != nil || !os.SameFile(before, after) || after.Size() != 0 || size != 0 {
		t.Fatalf("claimed %s: %v, same inode %v, %d bytes (said %d)", path, err, os.SameFile(before, after), after.Size(), size)
	}
	if _, _, ok := p.Claim(0); ok {
		t.Error("a second Claim found a file")
	}
}

// TestKeeping: a NewKeeping pool hands out files with their old content
// and says how much, up to its byte bound; beyond it files are emptied;
// Take (for files that are appended to) always gives an empty one.
func TestKeeping(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := NewKeeping(dir, 10)
	for _, name := range []string{"a", "b"} {
		write(t, filepath.Join(dir, name), "12345678")
	}
	if err := p.Put(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := p.Put(filepath.Join(dir, "b")); err != nil { // 16 bytes > 10: emptied
		t.Fatal(err)
	}
	path, size, ok := p.Claim(0)
	if b, _ := os.ReadFile(path); !ok || size != 0 || len(b) != 0 {
		t.Errorf("second file: size %d, content %q; want it emptied", size, b)
	}
	path, size, ok = p.Claim(0)
	if b, _ := os.ReadFile(path); !ok || size != 8 || string(b) != "12345678" {
		t.Errorf("first file: size %d, content %q; want its 8 bytes kept", size, b)
	}
	if err := p.Put(path); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "c.state")
	if !p.Take(dst) {
		t.Fatal("Take found nothing")
	}
	if b, _ := os.ReadFile(dst); len(b) != 0 {
		t.Errorf("Take gave %q, want an empty file", b)
	}
}

// TestClaimPicksTheBestFit: among pooled files that kept their content,
// Claim takes the smallest that holds the write, else the largest.
func TestClaimPicksTheBestFit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := NewKeeping(dir, 1<<20)
	for _, size := range []int{100, 5000, 20000, 3000} {
		path := filepath.Join(dir, fmt.Sprint(size))
		write(t, path, strings.Repeat("x", size))
		if err := p.Put(path); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ want, got int64 }{{4000, 5000}, {50000, 20000}, {10, 100}, {0, 3000}} {
		if _, size, ok := p.Claim(tc.want); !ok || size != tc.got {
			t.Errorf("Claim(%d) took a file of %d bytes, want %d", tc.want, size, tc.got)
		}
	}
}
