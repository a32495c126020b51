package imap

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func addrString(l []address) string {
	var parts []string
	for _, a := range l {
		parts = append(parts, fmt.Sprintf("(%q %q %q)", a.Name, a.Mailbox, a.Host))
	}
	return strings.Join(parts, " ")
}

// TestParseAddressList: groups become IMAP's start/end markers (RFC 3501
// §7.4.2), comments are dropped (or name a bare address), routes are
// skipped, and a broken element does not take the others with it.
func TestParseAddressList(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"user@domain", `("" "user" "domain")`},
		{`"Real, Name" <user@domain>`, `("Real, Name" "user" "domain")`},
		{"user@domain (Real Name)", `("Real Name" "user" "domain")`},
		{"<user-from (comment)@ (comment) domain.org>", `("" "user-from" "domain.org")`},
		{"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;",
			`("" "group" "") ("" "g1" "d1.org") ("" "g2" "d2.org") ("" "" "") ("" "group2" "") ("" "g3" "d3.org") ("" "" "")`},
		{"group:;, group2: (foo) ;", `("" "group" "") ("" "" "") ("" "group2" "") ("" "" "")`},
		{"<@route,@other:user@domain>", `("" "user" "domain")`},
		{"=?utf-8?q?J=C3=B6rg?= <j@example.org>, , bad", `("Jörg" "j" "example.org") ("" "bad" "")`},
		{"unclosed: a@b", `("" "unclosed" "") ("" "a" "b") ("" "" "")`},
	}
	for _, tc := range cases {
		if got := addrString(parseAddressList([]string{tc.in})); got != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestEnvelopeGroupsAndSearch: through the server, ENVELOPE keeps groups
// and defaults Sender and Reply-To to From; SEARCH FROM finds an address
// written with comments inside it.
func TestEnvelopeGroupsAndSearch(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	msgs := []string{
		"From: user@domain (Real Name)\r\nTo: group: g1@d1.org;, x@y\r\nSubject: s\r\n\r\nbody\r\n",
		"From: <user-from (comment)@ (comment) domain.org>\r\n\r\nbody\r\n",
	}
	for _, m := range msgs {
		env.store.Deliver(context.Background(), alice, "", []byte(m), false)
	}
	c := loginRaw(t, env)
	c.has("b SELECT INBOX\r\n", "b OK [READ-WRITE] SELECT completed")
	c.expect("c FETCH 1 ENVELOPE\r\n",
		`* 1 FETCH (UID 1 ENVELOPE (NIL "s" (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) `+
			`(("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL) (NIL NIL "g1" "d1.org") (NIL NIL NIL NIL) `+
			`(NIL NIL "x" "y")) NIL NIL NIL NIL))`, "c OK FETCH completed")
	c.expect("d SEARCH FROM user-from@domain.org\r\n", "* SEARCH 2", "d OK SEARCH completed")
	c.expect("e SEARCH FROM \"real name <user@\"\r\n", "* SEARCH 1", "e OK SEARCH completed")
}
