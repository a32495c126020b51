package pop3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"mailgate/internal/testenv"
)

// failingStore fails the way its fields say, to check the replies to
// store errors: a generic -ERR, never the error's text.
type failingStore struct {
	open, list, read, del error
	msgs                  []Message
}

func (f failingStore) OpenMaildrop(ctx context.Context, account string) (Maildrop, error) {
	return f, f.open
}
func (f failingStore) List(ctx context.Context) ([]Message, error) { return f.msgs, f.list }
func (f failingStore) Open(ctx context.Context, uid uint32) (io.ReadCloser, error) {
	return nil, f.read
}
func (f failingStore) Delete(ctx context.Context, uids []uint32) error { return f.del }

type unavailableAuth struct{}

func (unavailableAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	return "", fmt.Errorf("db down at /var/secret: %w", ErrAuthUnavailable)
}

func TestStoreAndAuthErrors(t *testing.T) {
	t.Parallel()
	secret := errors.New("open /var/mail/secret: permission denied")
	one := []Message{{UID: 7, Size: 10}}
	tests := []struct {
		name   string
		store  failingStore
		auth   Authenticator
		script string
	}{
		{"open fails", failingStore{open: secret}, nil, `
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: -ERR [SYS/TEMP] mailbox temporarily unavailable; try again later`},
		{"list broken", failingStore{list: fmt.Errorf("bad name: %w", ErrMaildropBroken)}, nil, `
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: -ERR [SYS/PERM] mailbox cannot be opened; ask the administrator to check it`},
		{"auth unavailable", failingStore{}, unavailableAuth{}, `
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: -ERR [SYS/TEMP] cannot check passwords right now; try again later`},
		{"read fails", failingStore{msgs: one, read: secret}, nil, `
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: +OK logged in, 1 messages (10 octets)
			C: RETR 1
			S: -ERR [SYS/TEMP] internal error; try again later (session ID)
			C: TOP 1 0
			S: -ERR [SYS/TEMP] internal error; try again later (session ID)`},
		{"delete fails", failingStore{msgs: one, del: secret}, nil, `
			C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
			S: +OK logged in, 1 messages (10 octets)
			C: DELE 1
			S: +OK message 1 deleted
			C: QUIT
			S: -ERR [SYS/TEMP] some deleted messages not removed; they stay in the maildrop`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startServer(t, func(o *Options) {
				o.Store = tc.store
				if tc.auth != nil {
					o.Auth = tc.auth
				}
			})
			c := e.dialTLS(t)
			c.idPattern = true
			c.converse(tc.script)
		})
	}
}

// TestInternalErrorLogLine: the line an internal error writes names each
// key once (the session's logger already carries the account).
func TestInternalErrorLogLine(t *testing.T) {
	t.Parallel()
	var log syncLog
	e := startServer(t, func(o *Options) {
		o.Store = failingStore{msgs: []Message{{UID: 7, Size: 10}}, read: errors.New("disk gone")}
		o.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := e.dialTLS(t)
	c.idPattern = true
	c.converse(`
		C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
		S: +OK logged in, 1 messages (10 octets)
		C: RETR 1
		S: -ERR [SYS/TEMP] internal error; try again later (session ID)`)
	found := false
	for _, l := range strings.Split(log.String(), "\n") {
		if k := testenv.RepeatedLogKey(l); k != "" {
			t.Errorf("key %q twice in: %s", k, l)
		}
		found = found || strings.Contains(l, `msg="pop3 cannot open message"`) && strings.Contains(l, "account=alice")
	}
	if !found {
		t.Fatalf("no error line:\n%s", log.String())
	}
}

// syncLog is a log destination sessions write to while the test reads it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncLog) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }
