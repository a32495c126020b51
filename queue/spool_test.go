package queue

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"mailgate/internal/mailmsg"
)

func testEnv(i int) *mailmsg.Envelope {
	return &mailmsg.Envelope{
		ID:         mailmsg.NewID(time.Now()),
		From:       fmt.Sprintf("sender%d@example.com", i),
		Recipients: []mailmsg.Recipient{{Addr: "rcpt@example.org", Notify: []string{"FAILURE"}}},
		Received:   time.Now().UTC().Truncate(time.Second),
	}
}

func TestSpoolWriteRecover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := OpenSpool(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	want := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			env := testEnv(i)
			raw := []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", i, i))
			if err := s.Write(env, raw); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			want[env.ID] = raw
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	s.Close()

	// Leftovers of a crash: a temp file and a garbage .msg.
	os.WriteFile(filepath.Join(dir, tmpPrefix+"0000000000000abcdef.msg"), []byte("partial"), 0o600)
	os.WriteFile(filepath.Join(dir, "00000000000000bad00.msg"), []byte("garbage"), 0o600)

	s2, _ := OpenSpool(dir, nil)
	defer s2.Close()
	got, broken, err := s2.Recover()
	if err != nil || broken != 1 {
		t.Fatalf("Recover: broken=%d err=%v; want 1 broken", broken, err)
	}
	if len(got) != n {
		t.Fatalf("recovered %d messages, want %d", len(got), n)
	}
	for _, r := range got {
		_, raw, err := s2.ReadMessage(r.Env.ID)
		if err != nil || !bytes.Equal(raw, want[r.Env.ID]) {
			t.Fatalf("message %s: %q, %v; want %q", r.Env.ID, raw, err, want[r.Env.ID])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"0000000000000abcdef.msg")); !os.IsNotExist(err) {
		t.Error("temp file of an unacknowledged message was not removed")
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000bad00.msg.broken")); err != nil {
		t.Error("broken file was not moved aside:", err)
	}
}

func BenchmarkSpoolWrite(b *testing.B) {
	for _, conc := range []int{1, 20, 100} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s, _ := OpenSpool(b.TempDir(), nil)
			defer s.Close()
			raw := bytes.Repeat([]byte("x"), 4096)
			b.SetParallelism(conc)
			b.SetBytes(int64(len(raw)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Write(testEnv(0), raw); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}

// On Linux the spool makes each batch durable with one syncfs(2); the
// fsync-per-file path is only for systems without it.
func TestSpoolUsesSyncfsOnLinux(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("syncfs is Linux only")
	}
	s, err := OpenSpool(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.fsDir == nil {
		t.Fatal("the spool fell back to an fsync per message")
	}
}
