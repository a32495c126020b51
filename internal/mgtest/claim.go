package mgtest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// claimDir holds one lock file per port handed out by FreeAddr in any
// test process on this machine.
var claimDir = filepath.Join(os.TempDir(), "mgtest-ports")

// claimPort takes an exclusive flock on claimDir/PORT and keeps the file
// open until this process exits, when the kernel drops the lock: the
// test binaries of several packages run at once and each has its own
// memory of the ports it gave out, so without a shared claim one could
// hand out a port another still means to listen on again (a restarted
// server). It answers false when another live process holds the port;
// when the directory cannot be used it answers true, leaving only the
// in-process check, as before.
func claimPort(addr string) bool {
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	if err := os.MkdirAll(claimDir, 0o1777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(claimDir, port), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	claimed = append(claimed, f) // held open: the lock lasts as long as the process
	return true
}

// claimed keeps the claim files open; guarded by givenMu.
var claimed []*os.File
