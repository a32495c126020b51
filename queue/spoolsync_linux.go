//go:build linux

package queue

import (
	"os"

	"golang.org/x/sys/unix"
)

// openSyncfs opens the spool directory for syncfs(2) and checks that the
// file system takes it. With it, a group commit is one syncfs for the
// whole batch (the messages' data and inodes, the renames, the
// directory) instead of an fsync per message plus one of the directory:
// a device flush per batch instead of one per message and one more per
// batch. On Linux 5.8 and later syncfs reports writeback errors, which
// then fail the whole batch (every message in it gets a 4xx and is not
// kept).
func openSyncfs(dir string) *os.File {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	if unix.Syncfs(int(d.Fd())) != nil {
		d.Close()
		return nil
	}
	return d
}

func syncfs(d *os.File) error { return unix.Syncfs(int(d.Fd())) }

// flushCovers reports whether the spool's flush makes files in dir
// durable: it is a syncfs and dir is on the spool's file system.
func (s *Spool) flushCovers(dir string) bool {
	if s.fsDir == nil {
		return false
	}
	var a, b unix.Stat_t
	return unix.Stat(s.dir, &a) == nil && unix.Stat(dir, &b) == nil && a.Dev == b.Dev
}
