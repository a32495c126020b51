package filters

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// onDisk gives raw's body as the relay gives a large message's: a section
// of a file, read as a stream.
func onDisk(t *testing.T, from string, rcpts []string, raw string) *Message {
	t.Helper()
	n := HeaderLen([]byte(raw))
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, []byte("junk before"+raw[n:]+"junk after"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &Message{From: from, Recipients: rcpts, Header: []byte(raw[:n]),
		Body: io.NewSectionReader(f, int64(len("junk before")), int64(len(raw)-n))}
}

// TestDKIMBodyOnDisk: a 3 MB body that is a section of a file, as the
// relay passes a message past 1 MB, is signed and verified over exactly
// its bytes: dkim_sign's signatures pass with go-msgauth on the whole
// message in memory, and dkim_verify passes them reading the body from
// the file.
func TestDKIMBodyOnDisk(t *testing.T) {
	t.Parallel()
	ch, srv := signingSetup(t)
	raw := crlf(submitted) + strings.Repeat("a line of the large body, 41 octets.\r\n", 3<<20/40)
	msg := onDisk(t, "app@example.org", []string{"someone@example.net"}, raw)
	ctx := context.Background()
	txn := ch.Begin(ctx, submitConn)
	defer txn.Close()
	if err := txn.Mail(ctx, msg.From); err != nil {
		t.Fatal(err)
	}
	if err := txn.Data(ctx, msg); err != nil {
		t.Fatal(err)
	}
	out := final(msg)
	if !strings.HasSuffix(out, raw) || len(headerValues([]byte(out), "DKIM-Signature")) != 2 {
		t.Fatalf("signed message: %d bytes, ends with the original: %v", len(out), strings.HasSuffix(out, raw))
	}
	if got := verifyAll(t, srv, out); !reflect.DeepEqual(got, []string{"pass", "pass"}) {
		t.Errorf("go-msgauth over the message in memory: %v, want both pass", got)
	}
	signed := onDisk(t, "", nil, out)
	f := &dkimVerifyFilter{resolver: verifierResolver(srv), max: 5, timeout: dkimTestTimeout}
	var got []string
	for _, o := range f.verify(ctx, signed) {
		got = append(got, o.Result)
	}
	if !reflect.DeepEqual(got, []string{"pass", "pass"}) {
		t.Errorf("dkim_verify reading the body from the file: %v, want both pass", got)
	}
}
