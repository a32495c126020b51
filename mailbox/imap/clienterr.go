package imap

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// clientGone reports errors that mean the connection is closed or broken.
func clientGone(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, errClosed) || (errors.As(err, &ne) && ne.Timeout())
}
