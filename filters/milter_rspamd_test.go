package filters

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailgate/internal/testenv"
)

// startRspamd runs rspamd (Debian package) as a milter on a free loopback
// port with testdata/rspamd.conf.tmpl: no modules, no network lookups,
// its files in a temp dir. It returns the milter address once rspamd
// accepts connections, and stops it when the test ends.
func startRspamd(t *testing.T) string {
	bin := testenv.Tool(t, "rspamd")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tmpl, err := os.ReadFile("testdata/rspamd.conf.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{DIR}}", dir, "{{ADDR}}", addr).Replace(string(tmpl))
	confPath := filepath.Join(dir, "rspamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", "-c", confPath}
	if os.Geteuid() == 0 {
		// rspamd refuses to run workers as root without -i.
		args = append(args, "-i", "-u", "root", "-g", "root")
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
		if t.Failed() {
			t.Logf("rspamd output:\n%s", out.String())
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// rspamd compiles its TLD list before it listens (about 10 s).
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("rspamd exited:\n%s", out.String())
		case <-tick.C:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
	}
	t.Fatalf("rspamd did not listen on %s within 90s:\n%s", addr, out.String())
	return ""
}

// gtube is the standard anti-spam test string: rspamd rejects it.
const gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func TestMilterRspamd(t *testing.T) {
	t.Parallel()
	addr := startRspamd(t)
	cfg := testConfig(t, []string{"milter"}, "filters:\n  milter: {address: \""+addr+"\"}\n")
	ch := newChain(t, cfg, Deps{Logger: testLogger(t)})
	conn := &Conn{SessionID: "r1", IP: net.ParseIP("192.0.2.7"), Helo: "mail.example.com"}
	spam := strings.Replace(inbound, "Hi Bob.", gtube, 1)
	reply, _ := transact(t, ch, conn, "alice@example.com", []string{"bob@mx.example.org"}, spam)
	// rspamd's own reply code and text are passed on.
	if want := "554 5.7.1 Gtube pattern"; reply != want {
		t.Errorf("GTUBE: reply %q, want %q", reply, want)
	}
	reply, msg := transact(t, ch, conn, "alice@example.com", []string{"bob@mx.example.org"}, inbound)
	if reply != "" {
		t.Fatalf("clean message: %s", reply)
	}
	if out := final(msg); !strings.HasPrefix(out, "From: Alice") || !strings.HasSuffix(out, "\r\n\r\nHi Bob.\r\n") {
		t.Errorf("clean message changed:\n%s", out)
	}
}
