package filters

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-milter"
)

// scriptMilter answers the end of each message with a test's script.
type scriptMilter struct {
	milter.NoOpMilter
	end func(m *milter.Modifier) (milter.Response, error)
}

func (s scriptMilter) Body(m *milter.Modifier) (milter.Response, error) { return s.end(m) }

// startMilter serves a go-milter server on loopback running end for every
// message.
func startMilter(t *testing.T, end func(m *milter.Modifier) (milter.Response, error)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &milter.Server{
		NewMilter: func() milter.Milter { return scriptMilter{end: end} },
		Actions:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptQuarantine | milter.OptChangeBody,
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func milterChain(t *testing.T, addr, extra string) *Chain {
	cfg := testConfig(t, []string{"milter"}, "filters:\n  milter:\n    address: \""+addr+"\"\n"+extra)
	return newChain(t, cfg, Deps{})
}

var milterConn = &Conn{SessionID: "m1", IP: net.ParseIP("192.0.2.7"), Helo: "mail.example.com"}

func TestMilterAnswers(t *testing.T) {
	t.Parallel()
	type mod = func(m *milter.Modifier) (milter.Response, error)
	cases := []struct {
		name  string
		end   mod
		reply string
		check func(t *testing.T, msg *Message)
	}{
		{"add header", func(m *milter.Modifier) (milter.Response, error) {
			m.AddHeader("X-Spam-Score", "1.5")
			return milter.RespAccept, nil
		}, "", func(t *testing.T, msg *Message) {
			if !strings.HasPrefix(final(msg), "X-Spam-Score: 1.5\r\nFrom: Alice") {
				t.Errorf("got:\n%s", final(msg))
			}
		}},
		{"change header", func(m *milter.Modifier) (milter.Response, error) {
			m.ChangeHeader(1, "Subject", "[SPAM] Hello")
			return milter.RespContinue, nil
		}, "", func(t *testing.T, msg *Message) {
			if out := final(msg); !strings.Contains(out, "\r\nSubject: [SPAM] Hello\r\nDate:") || strings.Contains(out, "Subject: Hello") {
				t.Errorf("got:\n%s", out)
			}
		}},
		{"remove header", func(m *milter.Modifier) (milter.Response, error) {
			m.ChangeHeader(1, "Message-ID", "")
			return milter.RespContinue, nil
		}, "", func(t *testing.T, msg *Message) {
			if out := final(msg); strings.Contains(out, "Message-ID") || !strings.HasSuffix(out, "\r\n\r\nHi Bob.\r\n") {
				t.Errorf("got:\n%s", out)
			}
		}},
		{"replace body", func(m *milter.Modifier) (milter.Response, error) {
			m.ReplaceBody([]byte("Cleaned.\r\n"))
			return milter.RespContinue, nil
		}, "", func(t *testing.T, msg *Message) {
			if out := final(msg); !strings.HasSuffix(out, "Message-ID: <1@example.com>\r\n\r\nCleaned.\r\n") {
				t.Errorf("got:\n%s", out)
			}
		}},
		{"quarantine", func(m *milter.Modifier) (milter.Response, error) {
			m.Quarantine("suspicious")
			return milter.RespContinue, nil
		}, "", func(t *testing.T, msg *Message) {
			if !msg.Quarantine {
				t.Error("not quarantined")
			}
		}},
		{"discard", func(m *milter.Modifier) (milter.Response, error) { return milter.RespDiscard, nil }, "",
			func(t *testing.T, msg *Message) {
				if !msg.Discard {
					t.Error("not discarded")
				}
			}},
		{"reject", func(m *milter.Modifier) (milter.Response, error) { return milter.RespReject, nil },
			"550 5.7.1 Message refused by the content filter", nil},
		{"tempfail", func(m *milter.Modifier) (milter.Response, error) { return milter.RespTempFail, nil },
			"451 4.7.1 The content filter asks to try again later", nil},
		{"own reply", func(m *milter.Modifier) (milter.Response, error) {
			return milter.NewResponseStr(byte(milter.ActReplyCode), "550 5.7.0 Virus found:\r\nEICAR"), nil
		}, "550 5.7.0 Virus found:  EICAR", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ch := milterChain(t, startMilter(t, c.end), "")
			reply, msg := transact(t, ch, milterConn, "alice@example.com", []string{"bob@mx.example.org"}, inbound)
			if reply != c.reply {
				t.Fatalf("reply %q, want %q", reply, c.reply)
			}
			if c.check != nil {
				c.check(t, msg)
			}
		})
	}
}

// TestMilterDown: a milter that refuses connections or never answers gives
// the configured default, within the timeout.
func TestMilterDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	tempfail := "451 4.7.1 The message could not be scanned right now; try again later"
	cases := []struct{ name, addr, extra, want string }{
		{"refused", closed, "", tempfail},
		{"refused, accept configured", closed, "    actions: {error: accept}\n", ""},
		{"hangs", silent.Addr().String(), "    timeout: 300ms\n", tempfail},
		{"hangs, accept configured", silent.Addr().String(), "    timeout: 300ms\n    actions: {error: accept}\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			reply, _ := transact(t, milterChain(t, c.addr, c.extra), milterConn, "alice@example.com", []string{"bob@mx.example.org"}, inbound)
			if reply != c.want {
				t.Errorf("reply %q, want %q", reply, c.want)
			}
			// Not a speed test: only that the timeout bounds the wait.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s with a 300ms timeout", d)
			}
		})
	}
}
