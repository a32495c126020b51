package mgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// Binary returns the path of a mailgate binary built from this checkout,
// building it on the first call in the test process (go build into a temp
// dir; later calls reuse it). Call Main from TestMain to remove it at exit.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "mgtest-bin-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "mailgate")
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		cmd := exec.Command("go", "build", "-o", build.path, "./cmd/mailgate")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/mailgate: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// moduleRoot finds go.mod above the test's working directory (a test runs
// in its package directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("mgtest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Main runs the tests and then removes the binary Binary built. Use it as
// `func TestMain(m *testing.M) { mgtest.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}
