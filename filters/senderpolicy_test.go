package filters

import (
	"regexp"
	"strings"
	"testing"
)

// aliceSendAs is what the mailbox layer answers for account alice.
func aliceSendAs(account, addr string) bool {
	if account != "alice" {
		return false
	}
	switch strings.ToLower(addr) {
	case "alice@example.org", "al@example.org", "team@example.org":
		return true
	}
	return false
}

func TestSenderPolicy(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, []string{"sender_policy"}, "")
	ch := newChain(t, cfg, Deps{SendAs: aliceSendAs})
	alice := &Conn{SessionID: "s", Submission: true, Account: "alice"}
	cases := []struct {
		name     string
		conn     *Conn
		mailFrom string
		from     string // header From line, "" for none
		want     string
	}{
		{"own address", alice, "alice@example.org", "Alice <alice@example.org>", ""},
		{"alias", alice, "al@example.org", "al@example.org", ""},
		{"send-as", alice, "team@example.org", "Team <team@example.org>", ""},
		{"case-insensitive", alice, "Alice@Example.ORG", "ALICE@example.org", ""},
		{"null sender", alice, "", "alice@example.org",
			"553 5.7.1 MAIL FROM <> is not allowed after login; use your own address, an alias or a send-as address"},
		{"foreign MAIL FROM", alice, "bob@example.org", "alice@example.org",
			"553 5.7.1 MAIL FROM <bob@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"foreign header From", alice, "alice@example.org", "Bob <bob@example.org>",
			"553 5.7.1 header From <bob@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"second From address", alice, "alice@example.org", "alice@example.org, ceo@example.org",
			"553 5.7.1 header From <ceo@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"no From", alice, "alice@example.org", "",
			"550 5.6.0 The message needs exactly one From header field, with your address"},
		{"garbled From", alice, "alice@example.org", "<<<",
			"550 5.6.0 The From header field does not parse (RFC 5322); write it as Name <you@example.com>"},
		{"two From fields", alice, "alice@example.org", "alice@example.org\nFrom: bob@example.org",
			"550 5.6.0 The message needs exactly one From header field, with your address"},
		{"empty group", alice, "alice@example.org", "undisclosed:;",
			"550 5.6.0 The From header field has no address; write it as Name <you@example.com>"},
		{"group with a foreign address", alice, "alice@example.org", "team: alice@example.org, bob@example.org;",
			"553 5.7.1 header From <bob@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"quoted local part", alice, "alice@example.org", "\"alice\"@example.org", ""},
		{"foreign address in display name", alice, "alice@example.org", "\"bob@example.org\" <alice@example.org>", ""},
		{"own Sender", alice, "alice@example.org", "team@example.org\nSender: alice@example.org", ""},
		{"foreign Sender", alice, "alice@example.org", "alice@example.org\nSender: Bob <bob@example.org>",
			"553 5.7.1 header Sender <bob@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"two Sender fields", alice, "alice@example.org", "alice@example.org\nSender: alice@example.org\nSender: al@example.org",
			"550 5.6.0 The message may have one Sender header field at most (RFC 5322 section 3.6.2)"},
		{"garbled Sender", alice, "alice@example.org", "alice@example.org\nSender: <<<",
			"550 5.6.0 The Sender header field does not parse (RFC 5322); write it as Name <you@example.com>"},
		{"folded From", alice, "alice@example.org", "Alice\n <bob@example.org>",
			"553 5.7.1 header From <bob@example.org> is not an address of alice; use your own address, an alias or a send-as address"},
		{"not authenticated", &Conn{SessionID: "s"}, "anyone@example.com", "anyone@example.com", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			raw := "To: x@example.net\nSubject: hi\n\nbody\n"
			if c.from != "" {
				raw = "From: " + c.from + "\n" + raw
			}
			if got, _ := transact(t, ch, c.conn, c.mailFrom, []string{"x@example.net"}, raw); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestSubmissionFixups(t *testing.T) {
	t.Parallel()
	clock := newClock()
	alice := &Conn{SessionID: "s", Submission: true, Account: "alice"}
	ch := newChain(t, testConfig(t, []string{"sender_policy"}, ""), Deps{SendAs: aliceSendAs, Now: clock.Now})
	_, msg := transact(t, ch, alice, "alice@example.org", []string{"x@example.net"}, "From: alice@example.org\nSubject: hi\n\nbody\n")
	re := regexp.MustCompile(`^Date: Wed, 25 Nov 2026 10:00:00 \+0000\r\nMessage-ID: <[0-9a-f]{24}@mx\.example\.org>\r\n$`)
	if !re.Match(msg.Prepend) {
		t.Errorf("added fields:\n%q", msg.Prepend)
	}
	// Present fields are kept as they are, nothing added.
	_, msg = transact(t, ch, alice, "alice@example.org", []string{"x@example.net"}, strings.Replace(submitted, "App <app@example.org>", "alice@example.org", 1))
	if len(msg.Prepend) != 0 {
		t.Errorf("added %q to a complete message", msg.Prepend)
	}
	// fixups: false turns the repair off.
	ch = newChain(t, testConfig(t, []string{"sender_policy"}, "filters:\n  sender_policy: {fixups: false}\n"), Deps{SendAs: aliceSendAs})
	_, msg = transact(t, ch, alice, "alice@example.org", []string{"x@example.net"}, "From: alice@example.org\n\nbody\n")
	if len(msg.Prepend) != 0 {
		t.Errorf("fixups off, but added %q", msg.Prepend)
	}
}
