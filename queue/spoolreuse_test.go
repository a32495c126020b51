package queue

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mailmsg"
)

// TestSpoolReusedFileKeepsOnlyItsMessage: a short message written over a
// pooled file that held a longer one reads back as itself, before and
// after a restart; the old bytes after it are never part of it.
func TestSpoolReusedFileKeepsOnlyItsMessage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	long := testEnv(1)
	if err := s.Write(long, []byte("Subject: long\r\n\r\n"+strings.Repeat("old line\r\n", 500))); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(long.ID); err != nil {
		t.Fatal(err)
	}
	short := testEnv(2)
	want := []byte("Subject: short\r\n\r\nnew\r\n")
	if err := s.Write(short, want); err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(filepath.Join(dir, short.ID+msgSuffix))
	if !bytes.Contains(file, []byte("old line")) {
		t.Fatalf("the test needs the pooled file written over in place; file is %q", file)
	}
	if _, r, err := s.ReadMessage(short.ID); err != nil || !bytes.Equal(r, want) {
		t.Errorf("ReadMessage: %q, %v; want %q", r, err, want)
	}
	s.Close()
	s2, _ := OpenSpool(dir, nil)
	defer s2.Close()
	got, broken, err := s2.Recover()
	if err != nil || broken != 0 || len(got) != 1 || got[0].Env.ID != short.ID {
		t.Fatalf("Recover: %d messages, %d broken, %v", len(got), broken, err)
	}
}

// TestSpoolTornReuseIsMovedAside: what a power loss during a batch's
// flush can leave of a message written over a pooled file (the new name
// on partly old bytes) never passes for a message: a changed byte fails
// the checksum, and old bytes under a new name fail the ID check.
func TestSpoolTornReuseIsMovedAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := testEnv(1), testEnv(2)
	for _, env := range []*mailmsg.Envelope{a, b} {
		if err := s.Write(env, []byte("Subject: x\r\n\r\nbody of "+env.ID+"\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	pa := filepath.Join(dir, a.ID+msgSuffix)
	data, _ := os.ReadFile(pa)
	data[len(data)-4] ^= 1 // a byte of the body
	os.WriteFile(pa, data, 0o600)
	pb := filepath.Join(dir, b.ID+msgSuffix)
	other := testEnv(3) // b's name on another message's bytes
	os.Rename(pb, pb+".keep")
	s0, _ := OpenSpool(t.TempDir(), nil)
	s0.Write(other, []byte("Subject: x\r\n\r\nother\r\n"))
	s0.Close()
	otherData, _ := os.ReadFile(filepath.Join(s0.Dir(), other.ID+msgSuffix))
	os.WriteFile(pb, otherData, 0o600)
	os.Remove(pb + ".keep")

	s2, _ := OpenSpool(dir, nil)
	defer s2.Close()
	got, broken, err := s2.Recover()
	if err != nil || broken != 2 || len(got) != 0 {
		t.Fatalf("Recover: %d messages, %d broken, %v; want 0 and 2", len(got), broken, err)
	}
	for _, p := range []string{pa, pb} {
		if _, err := os.Stat(p + brokenSuffix); err != nil {
			t.Errorf("%s was not moved aside: %v", p, err)
		}
	}
}
