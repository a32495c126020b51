//go:build unix

package inodepool

import (
	"os"
	"syscall"
)

// soleLink reports whether path is the file's only name.
func soleLink(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 1
}
