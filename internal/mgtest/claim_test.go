package mgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestClaimPortAcrossProcesses: a port claimed by this process is refused
// to another process until this one exits.
func TestClaimPortAcrossProcesses(t *testing.T) {
	if os.Getenv("MGTEST_CLAIM_CHILD") != "" {
		if claimPort(os.Getenv("MGTEST_CLAIM_CHILD")) {
			os.Exit(0)
		}
		os.Exit(3)
	}
	addr := FreeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimPortAcrossProcesses$")
	cmd.Env = append(os.Environ(), "MGTEST_CLAIM_CHILD="+addr)
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("another process claimed %s which this one holds: %v", addr, err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr gave %q", addr)
	}
}
