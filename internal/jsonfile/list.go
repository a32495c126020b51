package jsonfile

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"slices"
)

// The documents kept here are lists of items with an ID (API keys,
// webhooks); these helpers are the list operations they share.

// NewID is a random 8-hex-digit ID for a new item: short enough to
// type in `mailgate ... revoke ID`, and a collision among the few items
// of one file is unlikely (Append does not check).
func NewID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewSecret is n random bytes in unpadded base64url, for a secret
// that an item's owner is shown (an API key, a webhook's signing key).
func NewSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Append adds item at the end of the list, on disk first.
func Append[T any](f *File[[]T], item T) error {
	return f.Edit(func(l []T) ([]T, error) { return append(slices.Clone(l), item), nil })
}

// Remove deletes the first item that match picks, and returns notFound
// when none does.
func Remove[T any](f *File[[]T], match func(T) bool, notFound error) error {
	return f.Edit(func(l []T) ([]T, error) {
		i := slices.IndexFunc(l, match)
		if i < 0 {
			return nil, notFound
		}
		return slices.Delete(slices.Clone(l), i, i+1), nil
	})
}

// Items returns a copy of the list as it is on disk now.
func Items[T any](f *File[[]T]) ([]T, error) {
	l, _, err := f.Get()
	return slices.Clone(l), err
}
