package mgtest_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

func TestMain(m *testing.M) { mgtest.Main(m) }

func greeting(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// TestLifecycle: start, SIGTERM, restart on the same ports, SIGKILL.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"smtp"}, Hostname: "mx.example.test"})
	addr := srv.Addr["smtp"]
	if got := greeting(t, addr); got != "220 mx.example.test ESMTP Service Ready\r\n" {
		t.Errorf("greeting %q", got)
	}
	if line := srv.WaitLog("msg=listening"); !strings.Contains(line, "address="+addr) {
		t.Errorf("listening line %q", line)
	}
	if srv.Password != "" {
		t.Errorf("a config file server printed a password")
	}
	if code := srv.Stop(); code != 0 || !srv.Exited() {
		t.Fatalf("Stop: exit %d", code)
	}
	if !strings.Contains(srv.Logs(), `msg="shutting down" signal=terminated`) {
		t.Errorf("no shutdown line in the log")
	}
	srv.Restart()
	if got := greeting(t, addr); !strings.HasPrefix(got, "220 ") {
		t.Errorf("after restart: %q", got)
	}
	srv.Kill()
	if !srv.Exited() {
		t.Error("still running after Kill")
	}
	if out, code := srv.Run("", "check-config", srv.ConfigPath); code != 0 {
		t.Errorf("check-config on the generated config: %d %s", code, out)
	}
}
