package faults

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
)

// stallServer is a minimal SMTP server whose first connection stops
// reading in the middle of DATA (so the client's writes block once the
// socket buffers are full) and whose later connections take the message.
type stallServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	got   [][]byte // DATA bytes of accepted messages, still dot-stuffed
	done  chan struct{}
	quit  chan struct{}
}

func startStallServer(t *testing.T) *stallServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallServer{ln: ln, done: make(chan struct{}, 16), quit: make(chan struct{})}
	t.Cleanup(func() { close(s.quit); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns++
			n := s.conns
			s.mu.Unlock()
			go s.serve(c, n == 1)
		}
	}()
	return s
}

func (s *stallServer) serve(c net.Conn, stall bool) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprintf(c, "220 stall.test ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			fmt.Fprintf(c, "250-stall.test\r\n250 8BITMIME\r\n")
		case strings.HasPrefix(cmd, "DATA"):
			fmt.Fprintf(c, "354 go ahead\r\n")
			if stall {
				io.CopyN(io.Discard, r, 64<<10)
				// Stop reading, and keep the connection open until the
				// test ends: the client must give up on its own.
				<-s.quit
				return
			}
			var data []byte
			for !bytes.HasSuffix(data, []byte("\r\n.\r\n")) {
				b, err := r.ReadByte()
				if err != nil {
					return
				}
				data = append(data, b)
			}
			s.mu.Lock()
			s.got = append(s.got, data)
			s.mu.Unlock()
			fmt.Fprintf(c, "250 2.0.0 taken\r\n")
			s.done <- struct{}{}
		case strings.HasPrefix(cmd, "QUIT"):
			fmt.Fprintf(c, "221 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "250 OK\r\n")
		}
	}
}

// TestRemoteStallsMidData: the remote stops reading in the middle of an
// 8 MB message, so mailgate's writes block. After
// delivery.timeouts.data_block the attempt is given up and deferred; the
// next attempt delivers the message intact (same SHA-256).
func TestRemoteStallsMidData(t *testing.T) {
	t.Parallel()
	ss := startStallServer(t)
	dns := dnstest.Start(t, "sink.test. 300 IN MX 10 mx.sink.test.", "mx.sink.test. 300 IN A 127.0.0.1")
	srv := mgtest.Start(t, mgtest.Options{
		Protocols: []string{"submissions"},
		Users:     map[string]string{user: pass},
		DNS:       dns.Addr,
		Delivery:  fmt.Sprintf("  port: %d\n", ss.ln.Addr().(*net.TCPAddr).Port) + shortTimeouts,
		Config:    fastRetry,
	})
	msg := faultMessage("stall", 120000) // about 8 MB
	id := submit(t, srv, sinkRcp, msg)
	line := srv.WaitLog("msg=deferred msgid=" + id)
	srv.WaitLog("msg=delivered msgid=" + id)
	<-ss.done
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.got) != 1 {
		t.Fatalf("remote took %d copies, want 1", len(ss.got))
	}
	body := dotUnstuff(ss.got[0])
	if !bytes.HasSuffix(body, []byte(msg)) {
		t.Errorf("delivered message damaged: %d bytes, sha256 %x, want suffix of %d bytes, sha256 %x",
			len(body), sha256.Sum256(body), len(msg), sha256.Sum256([]byte(msg)))
	}
	report(t, "8 MB message, remote stalled mid-DATA: deferred (%s), then delivered intact", line[strings.Index(line, "reason="):])
}
