package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/internal/smtptest"
)

// mountTmpfs mounts a tmpfs of size on dir. Without the right to mount
// (not root, or in a container without CAP_SYS_ADMIN) the test is
// skipped on a laptop and fails in CI, where .ci/run runs as root.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs for the disk-full test (needs root): %v: %s", err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestDiskFull puts the spool on a 2 MB tmpfs, nearly filled by a file
// of ours, and submits until the disk is full: acceptance must answer
// 452 4.3.1, every message acknowledged before must be in the spool
// intact (also after a restart), and once the file is removed acceptance
// resumes.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	// The sink tempfails, so accepted mail stays in the spool.
	w := startSinkWorld(t, smtptest.Config{DataReplies: []string{"451 4.3.0 later"}}, "")
	w.srv.Kill()
	spool := w.srv.SpoolDir()
	ents, _ := os.ReadDir(spool)
	for _, e := range ents {
		if e.Name() != "lock" && e.Name() != "finished" { // the spool's lock and finished records
			t.Fatalf("spool not empty before the mount: %v", ents)
		}
	}
	mountTmpfs(t, spool, "2m")
	filler := filepath.Join(spool, "filler") // not a spool name; Recover ignores it
	if err := os.WriteFile(filler, make([]byte, 1600<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	w.srv.Restart()

	accepted := map[string]string{} // queue ID -> message
	var full *smtp.SMTPError
	c, err := dialSubmission(w.srv)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && full == nil; i++ {
		msg := faultMessage(fmt.Sprintf("disk-%d", i), 800) // ~60 KB
		id, err := sendOne(c, sinkRcp, msg)
		switch {
		case err == nil:
			accepted[id] = msg
		case errors.As(err, &full):
		default:
			t.Fatalf("message %d: %v", i, err)
		}
	}
	c.Close()
	if full == nil {
		t.Fatalf("100 messages of 60 KB accepted on a 2 MB spool")
	}
	if full.Code != 452 || full.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("disk full answered %d %v %q, want 452 4.3.1", full.Code, full.EnhancedCode, full.Message)
	}
	if len(accepted) == 0 {
		t.Fatal("nothing was accepted before the disk was full")
	}
	checkSpool(t, spool, accepted)

	// Space returns: acceptance resumes at once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	id := submit(t, w.srv, sinkRcp, faultMessage("disk-after", 800))
	accepted[id] = faultMessage("disk-after", 800)
	// Nothing was damaged, not even for the next start.
	w.srv.Kill()
	w.srv.Restart()
	checkSpool(t, spool, accepted)
	if list := queueList(t, w.srv); len(list) != len(accepted) {
		t.Errorf("queue list shows %d messages after restart, want %d", len(list), len(accepted))
	}
	report(t, "accepted=%d before 452 4.3.1 (%q), resumed after space returned, all intact after restart", len(accepted)-1, full.Message)
}

// checkSpool reads each accepted message's spool file (format of
// docs/spool.md: magic line, envelope JSON line, message) and checks the
// message is there whole; no file may have been moved aside as broken.
func checkSpool(t *testing.T, dir string, accepted map[string]string) {
	t.Helper()
	for id, msg := range accepted {
		data, err := os.ReadFile(filepath.Join(dir, id+".msg"))
		if err != nil {
			t.Errorf("accepted message %s: %v", id, err)
			continue
		}
		rest, ok := bytes.CutPrefix(data, []byte("MAILGATE-SPOOL/1\n"))
		_, raw, ok2 := bytes.Cut(rest, []byte("\n"))
		if !ok || !ok2 || !bytes.HasSuffix(raw, []byte(msg)) {
			t.Errorf("accepted message %s is damaged in the spool (%d bytes)", id, len(data))
		}
	}
	broken, _ := filepath.Glob(filepath.Join(dir, "*.broken"))
	if len(broken) != 0 {
		t.Errorf("spool files moved aside: %v", broken)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*.msg")); len(names) != len(accepted) {
		t.Errorf("spool holds %d messages, want %d", len(names), len(accepted))
	}
}
