package interop

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// gtube is the standard anti-spam test string; rspamd rejects it.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// startRspamd runs rspamd as a milter on loopback with the filters
// package's minimal config (no modules, no DNS) and returns its address.
func startRspamd(t *testing.T) string {
	t.Helper()
	bin := testenv.Tool(t, "rspamd")
	dir := t.TempDir()
	addr := mgtest.FreeAddr(t)
	tmpl, err := os.ReadFile("../filters/testdata/rspamd.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	conf := writeFile(t, dir, "rspamd.conf", strings.NewReplacer("{{DIR}}", dir, "{{ADDR}}", addr).Replace(string(tmpl)))
	args := []string{"-f", "-c", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-i", "-u", "root", "-g", "root") // rspamd refuses root workers otherwise
	}
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("rspamd output:\n%s", out.String())
		}
	})
	waitListening(t, addr) // rspamd compiles its TLD list first (~10 s)
	return addr
}

// TestRspamdMilterEndToEnd: swaks sends GTUBE to mailgate's MX port with
// the milter filter pointed at a real rspamd; swaks sees rspamd's reject
// passed on, and a clean message is delivered to the mailbox intact.
func TestRspamdMilterEndToEnd(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	addr := startRspamd(t)
	srv := startFull(t, mgtest.Options{Config: "filters:\n  milter:\n    address: \"" + addr + "\"\n"})
	setListenerFilters(t, srv, "smtp", "milter")
	h, p := hostPort(srv.Addr["smtp"])
	spam := strings.Replace(testMessage("gtube"), "Sent by gtube.", gtube, 1)
	out, err := runErr(srv.Dir, strings.TrimSuffix(spam, "\r\n"), nil, swaks, "--server", h, "--port", p,
		"--from", "spammer@outside.test", "--to", user, "--data", "-", "--timeout", "60")
	if err == nil || !strings.Contains(out, "<** 554 5.7.1 Gtube pattern") {
		t.Errorf("GTUBE through rspamd: want swaks to see '554 5.7.1 Gtube pattern':\n%s", out)
	}
	clean := testMessage("rspamd-clean")
	out = run(t, srv.Dir, strings.TrimSuffix(clean, "\r\n"), swaks, "--server", h, "--port", p,
		"--from", "friend@outside.test", "--to", user, "--data", "-", "--timeout", "60")
	if !strings.Contains(out, "<~  250 2.0.0 OK: queued as ") && !strings.Contains(out, "<-  250 2.0.0 OK: queued as ") {
		t.Fatalf("clean message refused:\n%s", out)
	}
	waitDelivered(t, srv, 1)
	got := pyRead("poplib", "implicit", "pop3s")(t, srv)
	checkAll(t, "poplib after rspamd", got, map[string]string{"rspamd-clean": clean})
}
