//go:build !unix

package inodepool

// soleLink cannot tell without a link count, so nothing is reused.
func soleLink(path string) bool { return false }
