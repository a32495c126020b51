// Package testenv holds what mailgate's tests need from the machine: real
// client programs such as swaks, which CI installs and a laptop may lack.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Tool returns the path of an external program a test drives. Without it
// the test is skipped on a laptop, but fails in CI (CI set), where .ci/run
// must have installed it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed; .ci/run must install it", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}
