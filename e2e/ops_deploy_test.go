package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestOpsSystemdUnit: systemd-analyze verify accepts the unit (pointed
// at the binary under test) without a single warning, and the unit keeps
// the hardening the issue asks for.
func TestOpsSystemdUnit(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../deploy/systemd/mailgate.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{
		"\nUser=mailgate\n", "\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n", "\nNoNewPrivileges=true\n",
		"\nProtectSystem=strict\n", "\nReadWritePaths=/var/lib/mailgate\n", "\nPrivateTmp=true\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nKillSignal=SIGTERM\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	path := filepath.Join(t.TempDir(), "mailgate.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/mailgate", mgtest.Binary(t))), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
