package mailbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// modseqChildEnv makes the test binary run modseqChild instead of the
// tests: the process that TestModSeqSurvivesSIGKILL kills.
const modseqChildEnv = "MAILGATE_MODSEQ_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(modseqChildEnv); dir != "" {
		modseqChild(dir)
		return
	}
	os.Exit(m.Run())
}

// modseqChild changes flags, delivers and expunges in a loop and prints,
// after each change returned, "<uid> <modseq> <highestmodseq>": what a
// client would have been told.
func modseqChild(dir string) {
	s, err := New(Options{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; i < 100000; i++ {
		snap, err := s.Messages(acct, Inbox)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		var infos []MessageInfo
		switch {
		case len(snap.Messages) < 5:
			err = s.Deliver(context.Background(), acct, "", []byte("Subject: k\r\n\r\nk\r\n"), false)
		case i%7 == 0:
			_, err = s.ExpungeUIDs(acct, Inbox, []uint32{snap.Messages[0].UID})
		default:
			m := snap.Messages[i%len(snap.Messages)]
			flag := []string{FlagSeen, FlagFlagged, "$K" + strconv.Itoa(i%3)}[i%3]
			infos, err = s.SetFlags(acct, Inbox, []uint32{m.UID}, FlagOp(1+i%2), []string{flag})
		}
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		st, _ := s.Status(acct, Inbox)
		for _, m := range infos {
			fmt.Fprintf(out, "%d %d %d\n", m.UID, m.ModSeq, st.HighestModSeq)
		}
		fmt.Fprintf(out, "0 0 %d\n", st.HighestModSeq)
		out.Flush()
	}
}

// TestModSeqSurvivesSIGKILL kills a process that is changing a mailbox
// at a random moment, several times over the same directory: after each
// restart HIGHESTMODSEQ is at least the last one the process reported,
// and no message's MODSEQ is below the last one reported for it.
func TestModSeqSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), modseqChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		seen := map[uint32]uint64{}
		var high uint64
		sc := bufio.NewScanner(stdout)
		lines := 0
		kill := 200 + round*150 // lines before the kill
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				t.Fatalf("child: %s", sc.Text())
			}
			uid, _ := strconv.ParseUint(f[0], 10, 32)
			ms, _ := strconv.ParseUint(f[1], 10, 64)
			h, _ := strconv.ParseUint(f[2], 10, 64)
			if uid > 0 {
				seen[uint32(uid)] = ms
			}
			high = max(high, h)
			if lines++; lines == kill {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
		cmd.Wait()
		if lines < kill {
			t.Fatalf("round %d: the child stopped after %d lines", round, lines)
		}
		s, err := New(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := s.Messages(acct, Inbox)
		if err != nil {
			t.Fatal(err)
		}
		if snap.HighestModSeq < high {
			t.Fatalf("round %d: HIGHESTMODSEQ %d after SIGKILL, %d reported before", round, snap.HighestModSeq, high)
		}
		for _, m := range snap.Messages {
			if m.ModSeq < seen[m.UID] || m.ModSeq == 0 || m.ModSeq > snap.HighestModSeq {
				t.Errorf("round %d: UID %d has MODSEQ %d, reported %d, highest %d", round, m.UID, m.ModSeq,
					seen[m.UID], snap.HighestModSeq)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
