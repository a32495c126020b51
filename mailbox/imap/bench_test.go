package imap

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// fill puts n messages straight into alice's INBOX cur/, as another
// Maildir tool would; the store indexes them on first use.
func fill(b *testing.B, env *testEnv, n int) {
	b.Helper()
	if _, err := env.store.Messages(alice, "INBOX"); err != nil { // creates the Maildir
		b.Fatal(err)
	}
	cur := filepath.Join(storeDir(env), alice, "cur")
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: sender%d@example.org\r\nTo: alice@example.com\r\nSubject: message number %d\r\n"+
			"Date: Mon, 02 Jan 2023 15:04:05 +0000\r\nMessage-ID: <%d@example.org>\r\n\r\n"+
			"Hello Alice,\r\nthis is the body of message %d, with some text to search through.\r\n", i, i, i, i)
		if err := os.WriteFile(filepath.Join(cur, fmt.Sprintf("1700000000.bench%05d.host:2,", i)), []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	snap, err := env.store.Messages(alice, "INBOX")
	if err != nil || len(snap.Messages) != n {
		b.Fatalf("indexed %d messages, %v", len(snap.Messages), err)
	}
}

func storeDir(env *testEnv) string { return env.dir }

func benchClient(b *testing.B, env *testEnv) *imapclient.Client {
	c := env.login(b, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkFetchHeaders10k is what a mail client does when it opens a
// big folder: envelope headers and flags of every message.
func BenchmarkFetchHeaders10k(b *testing.B) {
	env := startServer(b, nil)
	fill(b, env, 10000)
	c := benchClient(b, env)
	opts := &goimap.FetchOptions{UID: true, Flags: true, RFC822Size: true, BodySection: []*goimap.FetchItemBodySection{
		{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"From", "Subject", "Date"}, Peek: true}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs, err := c.Fetch(goimap.SeqSet{{Start: 1, Stop: 0}}, opts).Collect()
		if err != nil || len(msgs) != 10000 {
			b.Fatalf("FETCH: %d messages, %v", len(msgs), err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSearch10k searches the bodies of 10,000 messages for a word.
func BenchmarkSearch10k(b *testing.B) {
	env := startServer(b, nil)
	fill(b, env, 10000)
	c := benchClient(b, env)
	crit := &goimap.SearchCriteria{Body: []string{"message 4242,"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil || d.All.String() != "4243" {
			b.Fatalf("SEARCH: %v, %v", d, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSearchHeader10k matches a header field (SEARCH FROM).
func BenchmarkSearchHeader10k(b *testing.B) {
	env := startServer(b, nil)
	fill(b, env, 10000)
	c := benchClient(b, env)
	crit := &goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "sender777@"}}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := c.UIDSearch(crit, nil).Wait()
		if err != nil || d.All.String() != "778" {
			b.Fatalf("SEARCH: %v, %v", d, err)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAppend measures APPEND of a 2 KB message, each one fsynced
// (file, directory, index) before the OK.
func BenchmarkAppend(b *testing.B) {
	env := startServer(b, nil)
	c := env.login(b, nil)
	body := "Subject: bench\r\n\r\n"
	for len(body) < 2048 {
		body += "0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghijklmnop\r\n"
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := c.Append("INBOX", int64(len(body)), nil)
		io.WriteString(cmd, body)
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAppendExpunge measures an APPEND followed by UID EXPUNGE of
// the message: the file created, fsynced, renamed, then unlinked, the
// churn of a client that files and deletes mail. Each new message gets a
// new file; an expunged one is only unlinked (see docs/mailbox.md).
func BenchmarkAppendExpunge(b *testing.B) {
	env := startServer(b, nil)
	c := env.login(b, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	body := "Subject: bench\r\n\r\n"
	for len(body) < 2048 {
		body += "0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdefghijklmnop\r\n"
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := c.Append("INBOX", int64(len(body)), &goimap.AppendOptions{Flags: []goimap.Flag{goimap.FlagDeleted}})
		io.WriteString(cmd, body)
		cmd.Close()
		data, err := cmd.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.UIDExpunge(goimap.UIDSetNum(data.UID)).Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// discardConn is a connection that takes any write: it isolates what the
// front adds to each write of imapserver's output.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkFrontWrite is the front's cost on the FETCH path: imapserver's
// 4 KiB output chunks passed through (sub-benchmark "front", which
// gathers them into 32 KiB writes) against the same writes straight to
// the connection ("direct").
func BenchmarkFrontWrite(b *testing.B) {
	chunk := make([]byte, 4096)
	for _, name := range []string{"direct", "front"} {
		b.Run(name, func(b *testing.B) {
			write := discardConn{}.Write
			if name == "front" {
				c := &conn{nc: discardConn{}}
				write = func(p []byte) (int, error) { return len(p), c.writeBytes(p) }
			}
			b.SetBytes(int64(len(chunk)))
			for b.Loop() {
				write(chunk)
			}
		})
	}
}
