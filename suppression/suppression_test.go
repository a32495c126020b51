package suppression

import (
	"errors"
	"testing"
	"time"
)

// TestListPerAccountAndDurable: an entry holds for its account only, any
// case; a second List on the same directory (the CLI) sees it and lifts
// it, and the first sees that at once.
func TestListPerAccountAndDurable(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(Entry{Account: "app@example.com", Address: "Gone@Example.net", Reason: "550 5.1.1\r\nno", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if !a.Has("APP@example.com", "gone@example.net") || a.Has("other@example.com", "gone@example.net") || a.Has("", "gone@example.net") {
		t.Error("Has")
	}
	b, _ := Open(dir)
	list, _ := b.Entries("app@example.com")
	if len(list) != 1 || list[0].Reason != "550 5.1.1  no" {
		t.Errorf("entries: %+v", list)
	}
	time.Sleep(10 * time.Millisecond) // a new modification time
	if err := b.Remove("app@example.com", "gone@example.net"); err != nil {
		t.Fatal(err)
	}
	if a.Has("app@example.com", "gone@example.net") {
		t.Error("the running list did not see the removal")
	}
	if err := b.Remove("app@example.com", "gone@example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
}

func TestHardBounce(t *testing.T) {
	for _, c := range []struct {
		cmd, status string
		want        bool
	}{{"RCPT", "5.1.1", true}, {"RCPT", "5.7.1", true}, {"DATA", "5.1.1", true}, {"DNS", "5.1.2", false},
		{"DATA", "5.7.1", false}, {"LOCAL", "5.2.2", false}, {"RCPT", "4.2.0", false}, {"", "5.4.7", false}} {
		if got := HardBounce(c.cmd, c.status); got != c.want {
			t.Errorf("HardBounce(%s, %s) = %v", c.cmd, c.status, got)
		}
	}
}
