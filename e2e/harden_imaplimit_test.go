package e2e

import (
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestIMAPConnectionFloodFromOneAddress: an attacker at 127.0.0.2 opens
// more idle connections than the whole IMAP limit; past the per-address
// limit it gets * BYE, and alice at 127.0.0.1 still logs in (issue 14:
// 500 idle connections from one address locked every user out).
func TestIMAPConnectionFloodFromOneAddress(t *testing.T) {
	srv := startWithListenerKeys(t, mgtest.Options{
		Protocols: []string{"submission", "imap", "http"},
		Users:     map[string]string{"alice@localhost": "correct horse"},
		Config:    "mailbox:\n  imap_max_connections: 30\n  imap_max_connections_per_ip: 20\n",
	}, map[string]string{"imap": "allow_insecure_auth: true"})
	var greetings []string
	for range 30 {
		c := dialFrom(t, "127.0.0.2", srv.Addr["imap"])
		defer c.close()
		greetings = append(greetings, c.line())
	}
	ok, refused := 0, 0
	for _, g := range greetings {
		switch {
		case strings.HasPrefix(g, "* OK"):
			ok++
		case g == "* BYE Too many connections from your address; close some and try again":
			refused++
		default:
			t.Errorf("greeting: %q", g)
		}
	}
	if ok != 20 || refused != 10 {
		t.Errorf("30 connections from one address: %d greeted, %d refused; want 20 and 10", ok, refused)
	}
	if r := imapLogin(t, "127.0.0.1", srv.Addr["imap"], "alice@localhost", "correct horse"); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("alice's login during the flood: %q", r)
	}
	m := scrapeMetrics(t, srv)
	if v, _ := m.value("mailgate_imap_connections_open", "state", "unauthenticated"); v != 20 {
		t.Errorf("mailgate_imap_connections_open{state=unauthenticated} = %v, want 20", v)
	}
	if v, _ := m.value("mailgate_imap_connections_total", "result", "refused_per_ip"); v != 10 {
		t.Errorf(`mailgate_imap_connections_total{result="refused_per_ip"} = %v, want 10`, v)
	}
}
