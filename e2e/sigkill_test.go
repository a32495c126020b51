package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailgate/internal/mgtest"
)

// acked is a message the server answered 250 for.
type acked struct {
	id   string
	body []byte
}

// TestSIGKILLLosesNoAcknowledgedMail: clients submit in parallel, the
// server is killed with SIGKILL in the middle of the burst and restarted
// on the same data directory. Every message that got 250 must be stored,
// byte for byte (in the spool, or in the mailbox once delivered); temp files of unacknowledged messages must be
// gone after the restart.
func TestSIGKILLLosesNoAcknowledgedMail(t *testing.T) {
	t.Parallel()
	const (
		clients   = 8
		perClient = 200 // bound on each client's loop
		killAfter = 40  // acknowledgements before the kill
	)
	srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{"bob@localhost": "pw"}})

	tlsc := srv.ClientTLS()
	load := submitLoad(t, srv, clients, perClient, killAfter, func() (*smtp.Client, error) {
		return smtp.DialTLS(srv.Addr["submissions"], tlsc) // an application on port 465
	})
	srv.Kill()
	<-load.finished // every client fails fast once the server is gone

	load.mu.Lock()
	defer load.mu.Unlock()
	got := load.got
	if len(got) < killAfter {
		t.Fatalf("only %d acknowledgements", len(got))
	}
	tmpBefore := tempFiles(t, srv.SpoolDir())
	// A torn write of our own, as a crash in the middle of writeTemp
	// leaves it, so that start-up cleanup is tested even when the kill
	// happened to fall between two writes.
	// Likewise a state file torn by a crash inside safefile.WriteFile,
	// which names its temp files ".NAME.tmpRANDOM".
	torn := map[string]string{
		".tmp-0000000000000deadbe.msg":             "MAILGATE-SPOOL/1\n{\"id\":\"00",
		".0000000000000deadbe.state.tmp1234567890": "{\"recip",
	}
	for name, content := range torn {
		if err := os.WriteFile(filepath.Join(srv.SpoolDir(), name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d messages acknowledged before SIGKILL; %d temp files left by the kill", len(got), len(tmpBefore))

	srv.Restart()
	if line := srv.WaitLog("msg=\"queue recovered\""); !strings.Contains(line, "messages=") {
		t.Errorf("recovery line %q", line)
	}
	// Still queued, or already delivered to bob's mailbox: either way
	// byte for byte what was sent.
	for _, a := range got {
		raw, where := findMessage(t, srv, a.id)
		if body := bodyAfterReceived(t, raw); !bytes.Equal(body, a.body) {
			t.Errorf("message %s (%s): stored body differs from the one sent (%d vs %d bytes)", a.id, where, len(body), len(a.body))
		}
	}
	// The restarted scheduler writes state files of its own (through
	// temp files) while this runs; what must be gone are the ones the kill
	// left and the torn ones planted above.
	left := map[string]bool{}
	for _, f := range tempFiles(t, srv.SpoolDir()) {
		left[filepath.Base(f)] = true
	}
	for _, f := range tmpBefore {
		if left[filepath.Base(f)] {
			t.Errorf("temp file left by the kill still in the spool after restart: %s", f)
		}
	}
	for name := range torn {
		if left[name] {
			t.Errorf("torn temp file still in the spool after restart: %s", name)
		}
	}
	if broken, _ := filepath.Glob(filepath.Join(srv.SpoolDir(), "*.broken")); len(broken) != 0 {
		t.Errorf("spool files moved aside as broken: %v", broken)
	}
}

// burst sends up to n messages on one connection, reporting each 250; it
// returns at the first error (the server was killed).
// loadRun is a set of clients submitting in a loop (see submitLoad).
type loadRun struct {
	mu       sync.Mutex
	got      []acked // every message that got 250
	finished chan struct{}
}

// submitLoad starts clients that each send up to perClient messages on
// one connection: even ones on the MX port, odd ones logged in as
// bob@localhost over dialTLS, as an application would. It returns once
// after messages, from both kinds of client, were acknowledged; the
// clients stop by themselves at their first error.
func submitLoad(t *testing.T, srv *mgtest.Server, clients, perClient, after int, dialTLS func() (*smtp.Client, error)) *loadRun {
	t.Helper()
	run := &loadRun{finished: make(chan struct{})}
	ackc := make(chan bool, clients*perClient) // true: from a submission client
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dial := func() (*smtp.Client, error) { return smtp.Dial(srv.Addr["smtp"]) }
			from := "sender@remote.example"
			if c%2 == 1 {
				from = "bob@localhost" // logged in as bob: only his own address
				dial = func() (*smtp.Client, error) {
					cl, err := dialTLS()
					if err != nil {
						return nil, err
					}
					return cl, cl.Auth(sasl.NewPlainClient("", "bob@localhost", "pw"))
				}
			}
			burst(dial, c, perClient, from, func(a acked) {
				run.mu.Lock()
				run.got = append(run.got, a)
				run.mu.Unlock()
				ackc <- c%2 == 1
			})
		}()
	}
	go func() { wg.Wait(); close(run.finished) }()
	// Bounded: the clients send at most clients*perClient messages.
	n, byKind := 0, map[bool]int{}
	for n < after || byKind[false] == 0 || byKind[true] == 0 {
		select {
		case submission := <-ackc:
			n++
			byKind[submission]++
		case <-run.finished:
			t.Fatalf("clients finished after %d acknowledgements (%v), before %d from both kinds", n, byKind, after)
		}
	}
	return run
}

func burst(dial func() (*smtp.Client, error), client, n int, from string, ack func(acked)) {
	c, err := dial()
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return
	}
	for i := range n {
		body := burstMessage(client, i, from)
		if c.Mail(from, nil) != nil || c.Rcpt("bob@localhost", nil) != nil {
			return
		}
		w, err := c.Data()
		if err != nil {
			return
		}
		if _, err := w.Write(body); err != nil {
			return
		}
		resp, err := w.CloseWithResponse()
		if err != nil {
			return
		}
		id, ok := strings.CutPrefix(resp.StatusText, "2.0.0 OK: queued as ")
		if !ok {
			return
		}
		ack(acked{id: id, body: body})
	}
}

// burstMessage is unique and tens of kilobytes, so that a kill is likely
// to land in the middle of a write. It is complete (Date, Message-ID), so
// that submission adds nothing and the stored body is the one sent.
func burstMessage(client, i int, from string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: bob@localhost\r\nSubject: burst %d/%d\r\n", from, client, i)
	fmt.Fprintf(&b, "Date: Fri, 04 Dec 2026 18:00:00 +0000\r\nMessage-ID: <burst-%d-%d@localhost>\r\n\r\n", client, i)
	line := make([]byte, 38)
	for range 500 + (client*37+i*11)%500 {
		rand.Read(line)
		b.WriteString(hex.EncodeToString(line))
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// tempFiles lists the spool's hidden files: every temp file of the queue
// (".tmp-ID.msg") and of safefile (".NAME.tmpRANDOM") starts with a dot.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
