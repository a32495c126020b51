package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// testStore is a Store the tests can put mail in and look into.
type testStore interface {
	Store
	deliver(t testing.TB, account, msg string) uint32
	uids(t testing.TB, account string) []uint32
}

// dirStore keeps each account's messages as files named by UID under a
// directory: the smallest store that behaves like a real one on disk.
type dirStore struct {
	root string
	mu   sync.Mutex
	next uint32
}

func newDirStore(t testing.TB) *dirStore {
	return &dirStore{root: t.TempDir(), next: 1}
}

func (d *dirStore) deliver(t testing.TB, account, msg string) uint32 {
	t.Helper()
	d.mu.Lock()
	uid := d.next
	d.next++
	d.mu.Unlock()
	dir := filepath.Join(d.root, account)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(int(uid))), []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	return uid
}

func (d *dirStore) uids(t testing.TB, account string) []uint32 {
	t.Helper()
	msgs, err := dirDrop{filepath.Join(d.root, account)}.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func (d *dirStore) OpenMaildrop(ctx context.Context, account string) (Maildrop, error) {
	return dirDrop{filepath.Join(d.root, account)}, nil
}

type dirDrop struct{ dir string }

func (d dirDrop) List(ctx context.Context) ([]Message, error) {
	ents, err := os.ReadDir(d.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, e := range ents {
		uid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, Message{UID: uint32(uid), Size: info.Size()})
	}
	slices.SortFunc(out, func(a, b Message) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

func (d dirDrop) Open(ctx context.Context, uid uint32) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(d.dir, strconv.Itoa(int(uid))))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("uid %d: %w", uid, ErrMessageGone)
	}
	return f, err
}

func (d dirDrop) Delete(ctx context.Context, uids []uint32) error {
	for _, uid := range uids {
		err := os.Remove(filepath.Join(d.dir, strconv.Itoa(int(uid))))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func newTestStore(t testing.TB) testStore { return newDirStore(t) }
