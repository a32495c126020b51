package queue

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/inodepool"
)

// TestSpoolStateRecords checks that WriteState appends records to the
// .state file, that Recover returns the last complete one, that a torn
// record is ignored, and that the message bytes are untouched.
func TestSpoolStateRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := testEnv(1)
	raw := []byte("Subject: s\r\n\r\nbody\r\n")
	if err := s.Write(env, raw); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{`{"n":1}`, `{"n":2}`} {
		if err := s.WriteState(env.ID, []byte(st)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if msg, _ := os.ReadFile(filepath.Join(dir, env.ID+msgSuffix)); !bytes.HasSuffix(msg, raw) {
		t.Errorf(".msg file changed by WriteState: %q", msg)
	}
	// A crash in the middle of a third append.
	f, _ := os.OpenFile(filepath.Join(dir, env.ID+stateSuffix), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(stateRecord(env.ID, []byte(`{"n":3}`))[:40])
	f.Close()

	s2, _ := OpenSpool(dir, nil)
	defer s2.Close()
	got, broken, err := s2.Recover()
	if err != nil || broken != 0 || len(got) != 1 {
		t.Fatalf("Recover: %d messages, %d broken, %v", len(got), broken, err)
	}
	if string(got[0].State) != `{"n":2}` {
		t.Errorf("state %q, want the last complete record {\"n\":2}", got[0].State)
	}
	if _, r, err := s2.ReadMessage(env.ID); err != nil || !bytes.Equal(r, raw) {
		t.Errorf("message %q, %v; want %q", r, err, raw)
	}
	if err := s2.Remove(env.ID); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if !strings.HasSuffix(e.Name(), inodepool.Suffix) {
			t.Errorf("left after Remove: %s; want only pooled files", e.Name())
		}
	}
	// The next message reuses a pooled inode and reads back as itself.
	env2 := testEnv(3)
	if err := s2.Write(env2, []byte("Subject: 2\r\n\r\nsecond\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, r, err := s2.ReadMessage(env2.ID); err != nil || string(r) != "Subject: 2\r\n\r\nsecond\r\n" {
		t.Errorf("message in a reused inode: %q, %v", r, err)
	}
}

// TestSpoolWholeStateFile checks that a .state file written whole (by
// earlier versions) is still read, and that appending to it keeps working.
func TestSpoolWholeStateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, _ := OpenSpool(dir, nil)
	defer s.Close()
	env := testEnv(2)
	if err := s.Write(env, []byte("Subject: x\r\n\r\nold\r\n")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, env.ID+stateSuffix), []byte(`{"old":true}`), 0o600)
	got, _, err := s.Recover()
	if err != nil || len(got) != 1 || string(got[0].State) != `{"old":true}` {
		t.Fatalf("Recover: %v, %v; want one message with state {\"old\":true}", got, err)
	}
	if err := s.WriteState(env.ID, []byte(`{"new":true}`)); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Recover()
	if len(got) != 1 || string(got[0].State) != `{"new":true}` {
		t.Fatalf("after WriteState: %v; want state {\"new\":true}", got)
	}
}

func TestLastStateRecord(t *testing.T) {
	t.Parallel()
	const id = "0123456789abcdef012"
	a, b := stateRecord(id, []byte("first")), stateRecord(id, []byte("second"))
	other := stateRecord("0123456789abcdef999", []byte("another message's"))
	bad := stateRecord(id, []byte("third"))
	bad[len(bad)-1] ^= 1
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{a, "first"},
		{append(append([]byte{}, a...), b...), "second"},
		{append(append([]byte{}, a...), bad...), "first"},
		{append(append([]byte{}, a...), b[:len(b)-2]...), "first"},
		{append(append([]byte{}, other...), a...), "first"},
		{append(append([]byte{}, a...), other...), "first"},
		{[]byte("garbage"), ""},
	} {
		if got := string(lastStateRecord(id, c.in)); got != c.want {
			t.Errorf("lastStateRecord(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
