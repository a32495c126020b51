package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailgate/internal/mgtest"
)

// clientIP is the loopback address the tests' clients connect from, so
// that the address a node reports can only have come from the PROXY
// header (HAProxy itself connects from 127.0.0.1).
const clientIP = "127.0.0.9"

// twoProxiedNodes starts two nodes whose listeners of protos take PROXY
// headers from 127.0.0.1, with extra config and the same users.
func twoProxiedNodes(t *testing.T, protos []string, config string, users map[string]string) (a, b *mgtest.Server) {
	t.Helper()
	keys := map[string]string{}
	for _, p := range protos {
		name := p
		if p == "smtp" {
			name = "mx"
		}
		keys[name] = proxiedKeys
		if p == "imap" || p == "pop3" {
			keys[name] += "\n    allow_insecure_auth: true" // clients on loopback
		}
	}
	opts := mgtest.Options{Protocols: protos, Config: config, Users: users}
	return startWithListenerKeys(t, opts, keys), startWithListenerKeys(t, opts, keys)
}

// TestClusterHAProxy runs HAProxy in front of two nodes, with send-proxy
// (v1) to one and send-proxy-v2 to the other, and checks that each node
// sees the client's own address on SMTP (log and Received field), IMAP,
// POP3 and HTTP.
func TestClusterHAProxy(t *testing.T) {
	users := map[string]string{"alice@localhost": "alice-secret-1"}
	a, b := twoProxiedNodes(t, []string{"smtp", "imap", "pop3", "http"}, "", users)
	// One frontend per node and protocol, so that which node a client
	// reaches does not depend on the balancer's state.
	backends := map[string][]string{}
	for _, p := range []string{"smtp", "imap", "pop3", "http"} {
		backends[p+"-a"] = []string{a.Addr[p] + " send-proxy"}
		backends[p+"-b"] = []string{b.Addr[p] + " send-proxy-v2"}
	}
	front := startHAProxy(t, backends)
	for _, node := range []string{"-a", "-b"} {
		sendVia(t, front["smtp"+node], "proxied"+node)
		if r := imapLogin(t, clientIP, front["imap"+node], "alice@localhost", "alice-secret-1"); !strings.HasPrefix(r, "a OK") {
			t.Fatalf("IMAP login through HAProxy: %q", r)
		}
		if r := pop3Login(t, clientIP, front["pop3"+node], "alice@localhost", "alice-secret-1"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("POP3 login through HAProxy: %q", r)
		}
		if code := getVia(t, front["http"+node], "/healthz"); code != http.StatusOK {
			t.Fatalf("GET /healthz through HAProxy: %d", code)
		}
	}
	for name, srv := range map[string]*mgtest.Server{"A (v1)": a, "B (v2)": b} {
		line := srv.WaitLog("msg=accepted")
		if !strings.Contains(line, "client="+clientIP) {
			t.Errorf("node %s logged %q; want client=%s", name, line, clientIP)
		}
		srv.WaitLog("remote=" + clientIP + ":") // IMAP and POP3 sessions
		msg := waitInbox(t, srv, "alice@localhost", "proxied-")
		if !strings.Contains(msg, "["+clientIP+"]") {
			t.Errorf("node %s stored a message whose Received field does not name [%s]:\n%s", name, clientIP, msg)
		}
	}
}

// TestClusterProxyUntrusted checks that a client outside trusted_proxies
// that sends a PROXY header (v1 on SMTP, v2 on IMAP) is disconnected,
// while the same client without a header is served as before.
func TestClusterProxyUntrusted(t *testing.T) {
	srv := startWithListenerKeys(t, mgtest.Options{Protocols: []string{"smtp", "imap"}},
		map[string]string{"mx": proxiedKeys, "imap": proxiedKeys})
	addr := srv.Addr["smtp"]

	c := dialFrom(t, clientIP, addr)
	c.smtpReply()
	c.send("PROXY TCP4 192.0.2.1 127.0.0.1 4242 25")
	if r := c.smtpReply(); r != "" {
		t.Errorf("after a PROXY header from an untrusted address the server said %q; want the connection closed", r)
	}
	c.close()
	srv.WaitLog("PROXY protocol header from an address not in trusted_proxies")

	c = dialFrom(t, clientIP, srv.Addr["imap"])
	c.line()
	c.c.Write([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x01\x7f\x00\x00\x01\x10\x92\x00\x19"))
	if r := c.line(); r != "" {
		t.Errorf("after a PROXY v2 header from an untrusted address IMAP said %q; want the connection closed", r)
	}
	c.close()

	c = dialFrom(t, clientIP, addr)
	defer c.close()
	c.smtpReply()
	c.send("EHLO client.example")
	if r := c.smtpReply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("EHLO from an untrusted address without a header: %q", r)
	}
}

// sendVia sends one message to alice@localhost through addr (port 25
// style, no AUTH) from clientIP, with subject as its Subject.
func sendVia(t *testing.T, addr, subject string) {
	t.Helper()
	c := dialFrom(t, clientIP, addr)
	defer c.close()
	steps := []struct{ cmd, want string }{
		{"", "220 "}, {"EHLO client.example", "250 "}, {"MAIL FROM:<app@sender.example>", "250 "},
		{"RCPT TO:<alice@localhost>", "250 "}, {"DATA", "354 "},
		{"Subject: " + subject + "\r\n\r\nhello\r\n.", "250 "}, {"QUIT", "221 "},
	}
	for _, s := range steps {
		if s.cmd != "" {
			c.send(s.cmd)
		}
		if r := c.smtpReply(); !strings.HasPrefix(r, s.want) {
			t.Fatalf("%q through %s: %q, want %s", s.cmd, addr, r, s.want)
		}
	}
}

// getVia makes a GET and returns the status.
func getVia(t *testing.T, addr, path string) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: mgtest.Timeout}).Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitInbox waits for a message containing substr in account's INBOX.
func waitInbox(t *testing.T, srv *mgtest.Server, account, substr string) string {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	for time.Now().Before(deadline) {
		if m := findInbox(srv, account, substr); m != "" {
			return m
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message with %q in %s's INBOX", substr, account)
	return ""
}

// findInbox returns the first message of account's INBOX holding substr.
func findInbox(srv *mgtest.Server, account, substr string) string {
	files, _ := filepath.Glob(filepath.Join(srv.MailDir(), account, "*", "*"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), substr) {
			return string(b)
		}
	}
	return ""
}
