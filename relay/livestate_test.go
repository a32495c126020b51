package relay_test

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-milter"

	"mailgate/config"
	"mailgate/filters"
)

// seen is what a milter was told about one message's client.
type seen struct{ helo, tlsVersion, account, from string }

// recordingMilter accepts every message and records, per message, what
// the relay told it about the client at HELO and MAIL.
type recordingMilter struct {
	milter.NoOpMilter
	mu   *sync.Mutex
	cur  *seen
	done *[]seen
}

func (r recordingMilter) Helo(name string, m *milter.Modifier) (milter.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.cur = seen{helo: name, tlsVersion: m.Macros["{tls_version}"]}
	return milter.RespContinue, nil
}

func (r recordingMilter) MailFrom(from string, m *milter.Modifier) (milter.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur.account, r.cur.from = m.Macros["{auth_authen}"], from
	return milter.RespContinue, nil
}

func (r recordingMilter) Body(m *milter.Modifier) (milter.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.done = append(*r.done, *r.cur)
	return milter.RespAccept, nil
}

// startRecordingMilter serves a recording milter on loopback; the returned
// function gives what it saw for each message so far.
func startRecordingMilter(t *testing.T) (addr string, messages func() []seen) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var done []seen
	srv := &milter.Server{NewMilter: func() milter.Milter {
		return recordingMilter{mu: &mu, cur: &seen{}, done: &done}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), done...)
	}
}

// withFilters runs sender_policy and a milter at addr on the submission
// listeners, and the milter alone on MX.
func withFilters(milterAddr string) func(*config.Config) {
	return func(c *config.Config) {
		c.Filters.Settings("milter").(*filters.MilterConfig).Address = milterAddr
		for i := range c.Listeners {
			c.Listeners[i].Filters = []string{"sender_policy", "milter"}
			if c.Listeners[i].Protocol == config.ProtoSMTP {
				c.Listeners[i].Filters = []string{"milter"}
			}
		}
	}
}

// sendOne sends one message from alice to bob and fails unless it is
// queued; it returns the queue ID.
func sendOne(w *wire) string {
	w.t.Helper()
	w.must("MAIL FROM:<"+alice+">", "250")
	w.must("RCPT TO:<"+bob+">", "250")
	w.must("DATA", "354")
	return queuedID(w.t, w.cmd(strings.ReplaceAll(message("live"), "\r\n.", "\r\n..")+"."))
}

// TestFiltersSeeTheLiveSession: the filters read the session as it is
// at each command, never a copy taken when it started: the account from
// the moment AUTH succeeds, TLS after STARTTLS, and the name of the last
// EHLO, each changing within one connection.
func TestFiltersSeeTheLiveSession(t *testing.T) {
	addr, milterSaw := startRecordingMilter(t)
	ts := startServer(t, withFilters(addr))

	w, _ := dial(t, ts.addr["submission"])
	w.must("EHLO first.example", "250")
	w.starttls(ts.tls)
	w.must("EHLO second.example", "250")
	w.must("MAIL FROM:<"+alice+">", "530")
	w.login() // the chain began at EHLO; the account comes later
	if got := w.cmd("MAIL FROM:<" + bob + ">"); !strings.HasPrefix(got, "553 5.7.1 MAIL FROM <bob@example.com> is not an address of alice@example.com") {
		t.Fatalf("foreign MAIL FROM after AUTH: %q", got)
	}
	w.must("RSET", "250")
	id1 := sendOne(w)
	w.must("EHLO third.example", "250")
	id2 := sendOne(w)

	got := milterSaw()
	want := []seen{
		{helo: "second.example", tlsVersion: "TLS 1.3", account: alice, from: alice},
		{helo: "third.example", tlsVersion: "TLS 1.3", account: alice, from: alice},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("milter saw %+v, want %+v", got, want)
	}
	for id, helo := range map[string]string{id1: "second.example", id2: "third.example"} {
		_, raw := ts.spooled(id)
		if !strings.HasPrefix(string(raw), "Received: from "+helo+" ([127.0.0.1])\r\n\tby "+hostname+" (mailgate) with ESMTPSA id "+id) ||
			!strings.Contains(string(raw), "(authenticated as "+alice+")") {
			t.Errorf("message %s Received field:\n%s", id, raw[:200])
		}
	}
}

// TestFiltersSeeSTARTTLS: on MX the same connection sends one message in
// clear and one after STARTTLS; only the second is seen with TLS, under
// the name given after the handshake.
func TestFiltersSeeSTARTTLS(t *testing.T) {
	addr, milterSaw := startRecordingMilter(t)
	ts := startServer(t, withFilters(addr))
	w, _ := dial(t, ts.addr["mx"])
	w.must("EHLO clear.example", "250")
	sendOne(w)
	w.starttls(ts.tls)
	w.must("EHLO secret.example", "250")
	sendOne(w)
	want := []seen{
		{helo: "clear.example", from: alice},
		{helo: "secret.example", tlsVersion: "TLS 1.3", from: alice},
	}
	if got := milterSaw(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("milter saw %+v, want %+v", got, want)
	}
}
