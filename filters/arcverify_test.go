package filters

import (
	"crypto"
	"net"
	"os"
	"strings"
	"testing"

	"mailgate/arc"
	"mailgate/config"
	"mailgate/resolver"
)

// sealedByForwarder returns inbound from reject.example as the forwarder
// trusted.example sends it on: with an ARC set recording dmarc=pass.
func sealedByForwarder(t *testing.T, keyPath string) string {
	t.Helper()
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParseDKIMKey(data)
	if err != nil {
		t.Fatal(err)
	}
	s := &arc.Sealer{Domain: "trusted.example", Selector: "arc", Key: key.(crypto.Signer), AuthServID: "mx.trusted.example"}
	raw := crlf(strings.Replace(inbound, "alice@example.com", "alice@reject.example", 1))
	set, err := s.Seal([]byte(raw), "spf=pass smtp.mailfrom=alice@reject.example; dmarc=pass header.from=reject.example", arc.None)
	if err != nil {
		t.Fatal(err)
	}
	return string(set) + raw
}

// TestARCVerifyAndTrustedSealer: a forwarded message that fails DMARC
// (p=reject) here is refused, unless its ARC chain passes and the newest
// seal is from a trusted sealer that saw dmarc=pass; a chain broken by a
// changed body never overrides. Authentication-Results says arc=pass or
// arc=fail either way.
func TestARCVerifyAndTrustedSealer(t *testing.T) {
	t.Parallel()
	srv := dmarcDNS(t)
	path, rec := keyPair(t, "rsa")
	srv.Add(t, txtRecord("arc._domainkey.trusted.example", rec))
	sealed := sealedByForwarder(t, path)
	broken := strings.Replace(sealed, "Hi Bob.", "Hi Eve.", 1)
	const refused = "550 5.7.1 DMARC policy of reject.example refuses this message: neither SPF nor DKIM aligned with the From domain"
	trust := "filters:\n  dmarc:\n    trusted_arc_sealers: [trusted.example]\n"
	cases := []struct {
		name, cfg, msg, reply, header string
	}{
		{"trusted sealer", trust, sealed, "", "arc=pass smtp.remote-ip=192.0.2.99;\r\n\tdmarc=fail reason=\"p=reject overridden: ARC chain sealed by trusted trusted.example\""},
		{"untrusted sealer", "", sealed, refused, ""},
		{"broken chain", trust, broken, refused, ""},
		{"no chain", trust, crlf(strings.Replace(inbound, "alice@example.com", "alice@reject.example", 1)), refused, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, []string{"spf", "dkim_verify", "arc_verify", "dmarc"}, c.cfg)
			ch := newChain(t, cfg, Deps{Resolver: resolver.New(srv.Addr)})
			reply, msg := transact(t, ch, &Conn{IP: net.ParseIP("192.0.2.99"), Helo: "fwd"}, "srs@trusted.example", []string{"bob@mx.example.org"}, c.msg)
			if reply != c.reply {
				t.Fatalf("reply %q, want %q", reply, c.reply)
			}
			if msg != nil && !strings.Contains(string(msg.Prepend), c.header) {
				t.Errorf("header lacks %q:\n%s", c.header, msg.Prepend)
			}
		})
	}
}

// TestARCVerifyResults: arc=none without a chain, arc=fail with the reason
// for a broken one, and the config refuses trusted sealers without
// arc_verify before dmarc.
func TestARCVerifyResults(t *testing.T) {
	t.Parallel()
	srv := dmarcDNS(t)
	path, rec := keyPair(t, "rsa")
	srv.Add(t, txtRecord("arc._domainkey.trusted.example", rec))
	broken := strings.Replace(sealedByForwarder(t, path), "Hi Bob.", "Hi Eve.", 1)
	ch := newChain(t, testConfig(t, []string{"arc_verify"}, ""), Deps{Resolver: resolver.New(srv.Addr)})
	conn := &Conn{IP: net.ParseIP("192.0.2.99"), Helo: "fwd"}
	_, msg := transact(t, ch, conn, "a@b.example", []string{"bob@mx.example.org"}, inbound)
	if !strings.Contains(string(msg.Prepend), "arc=none smtp.remote-ip=192.0.2.99") {
		t.Errorf("no chain:\n%s", msg.Prepend)
	}
	_, msg = transact(t, ch, conn, "a@b.example", []string{"bob@mx.example.org"}, broken)
	if !strings.Contains(string(msg.Prepend), `arc=fail reason="ARC-Message-Signature i=1: the body hash does not match (the body changed)"`) {
		t.Errorf("broken chain:\n%s", msg.Prepend)
	}
	y := "hostname: mx.example.org\nlisteners:\n  - name: test\n    protocol: smtp\n    address: 127.0.0.1:2525\n" +
		"    filters: [spf, dkim_verify, dmarc]\nfilters:\n  dmarc:\n    trusted_arc_sealers: [trusted.example]\n"
	if _, err := config.Parse("t.yaml", []byte(y), Builtin()); err == nil || !strings.Contains(err.Error(), "list arc_verify before dmarc") {
		t.Errorf("config without arc_verify: %v", err)
	}
}
