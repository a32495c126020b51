package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"mailgate/config"
)

// listen binds listener l: host:port over TCP, or a unix: socket path
// (LMTP) with the listener's socket_mode and socket_owner applied before
// any client can connect through looser permissions.
func listen(lc *net.ListenConfig, l config.Listener) (net.Listener, error) {
	path, unix := config.SocketPath(l.Address)
	if !unix {
		return lc.Listen(context.Background(), "tcp", l.Address)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	mode := uint32(0o660)
	if l.SocketMode != "" {
		m, err := config.ParseSocketMode(l.SocketMode)
		if err != nil {
			return nil, err
		}
		mode = m
	}
	// Under the usual umask (022) the new socket lets no one but mailgate's
	// user connect (connecting needs write permission) until mode and
	// owner are set just below. The umask is not narrowed here: it is
	// process-wide, and the queue and mailboxes already write files.
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, err
	}
	if err := socketPerms(path, l.SocketOwner, os.FileMode(mode)); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// removeStaleSocket deletes a socket left by a process that died (a
// clean stop removes its own); any other file at path is left alone.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSocket == 0:
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	return os.Remove(path)
}

// socketPerms gives the socket its owner ("user" or "user:group") and
// mode.
func socketPerms(path, owner string, mode os.FileMode) error {
	if owner != "" {
		uid, gid, err := config.LookupOwner(owner)
		if err != nil {
			return err
		}
		if err := os.Chown(path, uid, gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, mode)
}
