//go:build !linux

package queue

import "os"

// openSyncfs: without syncfs(2) every message is fsynced on its own and
// each batch syncs the directory.
func openSyncfs(dir string) *os.File { return nil }

func syncfs(d *os.File) error { return nil }

// flushCovers: without syncfs the spool's flush covers only its own files.
func (s *Spool) flushCovers(dir string) bool { return false }
