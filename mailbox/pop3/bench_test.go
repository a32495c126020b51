package pop3

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkRETR measures RETR of one 20 KiB message, over a plain
// connection and over TLS, one client at a time.
func BenchmarkRETR(b *testing.B) {
	var body strings.Builder
	body.WriteString("From: a@example.org\r\nSubject: bench\r\n\r\n")
	for body.Len() < 20<<10 {
		body.WriteString("The quick brown fox jumps over the lazy dog, again and again.\r\n.dot\r\n")
	}
	msg := body.String()
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			e := startServer(b, func(o *Options) { o.AllowInsecureAuth = true })
			e.store.deliver(b, "alice", msg)
			c := e.dial(b)
			if mode == "tls" {
				c = e.dialTLS(b)
			}
			c.converse("C: USER alice\nS: +OK send PASS\nC: PASS secret")
			c.line()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for b.Loop() {
				c.send("RETR 1")
				if l := c.line(); l != fmt.Sprintf("+OK %d octets", len(msg)) {
					b.Fatalf("RETR: %q", l)
				}
				for {
					l, err := c.r.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if bytes.Equal(l, []byte(".\r\n")) {
						break
					}
				}
			}
		})
	}
}
