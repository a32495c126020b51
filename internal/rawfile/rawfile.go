// Package rawfile opens and renames the spool's and the mailboxes'
// regular files with one system call each. os.OpenFile first registers a
// new descriptor with the network poller, which refuses regular files,
// and then puts it back into blocking mode: four fcntl(2) and a failing
// epoll_ctl(2) per file. os.Rename first stats the target to refuse
// renaming onto a directory. Per message that was about a dozen system
// calls of the sixty strace counted under bench send.
package rawfile

import (
	"os"
	"syscall"
)

// Open opens a regular file like os.OpenFile, without the poller (reads
// and writes block their thread, as os.File does for regular files
// anyway). Errors are *os.PathError, as os.OpenFile's.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// Rename renames a file over another file (never a directory: callers
// name both). Errors are *os.LinkError, as os.Rename's.
func Rename(from, to string) error {
	for {
		err := syscall.Rename(from, to)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
		}
		return nil
	}
}
