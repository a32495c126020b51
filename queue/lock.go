package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockName is the file in a spool directory that the running mailgate
// holds an exclusive flock(2) on, for as long as it runs: a second
// server on the same data_dir, or `mailgate queue import` of a spool
// whose node still runs, is refused. The kernel drops the lock when the
// process dies, kill -9 included, so a dead node's spool is free.
const lockName = "lock"

// ErrSpoolBusy is returned for a spool a running mailgate holds.
var ErrSpoolBusy = errors.New("the spool is in use by a running mailgate")

// lockSpool takes the spool's lock and writes our PID into it.
func lockSpool(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(f.Name())
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				return nil, fmt.Errorf("%w (pid %d holds %s)", ErrSpoolBusy, pid, dir)
			}
			return nil, fmt.Errorf("%w (%s)", ErrSpoolBusy, dir)
		}
		return nil, err
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
