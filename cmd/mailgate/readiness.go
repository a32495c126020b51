package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkWritable is the /readyz spool check: the directory takes a file
// and the disk has more than minFree bytes free.
func checkWritable(dir string, minFree int64) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return fmt.Errorf("spool not writable: %v", err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Clean(dir), &st); err != nil {
		return err
	}
	if free := int64(st.Bavail) * st.Bsize; free < minFree {
		return fmt.Errorf("only %d bytes free on the spool disk (minimum %d)", free, minFree)
	}
	return nil
}
