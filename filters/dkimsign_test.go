package filters

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/testenv"
	"mailgate/resolver"
)

// keyPair writes a key file and returns its path and DNS TXT value.
func keyPair(t testing.TB, algo string) (path, record string) {
	t.Helper()
	key, pemData, err := GenerateDKIMKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), algo+".pem")
	if err := os.WriteFile(path, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	record, err = DKIMRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return path, record
}

const submitted = `From: App <app@example.org>
To: someone@example.net
Subject: Invoice 42
Date: Wed, 25 Nov 2026 10:00:00 +0000
Message-ID: <42@example.org>
MIME-Version: 1.0
Content-Type: text/plain

Hello,
please find the invoice attached.
`

// signingSetup returns a chain that signs example.org with an RSA and an
// Ed25519 key, and a DNS server publishing both keys.
func signingSetup(t testing.TB) (*Chain, *dnstest.Server) {
	t.Helper()
	rsaPath, rsaTXT := keyPair(t, "rsa")
	edPath, edTXT := keyPair(t, "ed25519")
	cfg := testConfig(t, []string{"dkim_sign"}, "filters:\n  dkim_sign:\n    default_domain: example.org\n    keys:\n"+
		"      - {domain: example.org, selector: r2026, file: "+rsaPath+"}\n"+
		"      - {domain: example.org, selector: e2026, file: "+edPath+"}\n")
	srv := dnstest.Start(t, txtRecord("r2026._domainkey.example.org", rsaTXT), txtRecord("e2026._domainkey.example.org", edTXT))
	return newChain(t, cfg, Deps{}), srv
}

func verifyAll(t testing.TB, srv *dnstest.Server, msg string) []string {
	t.Helper()
	f := &dkimVerifyFilter{resolver: verifierResolver(srv), max: 5, timeout: dkimTestTimeout}
	var got []string
	for _, o := range f.verify(context.Background(), NewMessage("", nil, []byte(msg))) {
		got = append(got, o.Result)
	}
	return got
}

// dkimTestTimeout bounds one verification against the loopback DNS server.
const dkimTestTimeout = 10 * time.Second

func verifierResolver(srv *dnstest.Server) resolver.Resolver { return resolver.New(srv.Addr) }

var submitConn = &Conn{SessionID: "s1", Submission: true, Account: "app@example.org"}

func TestDKIMSignBothAlgorithms(t *testing.T) {
	t.Parallel()
	ch, srv := signingSetup(t)
	reply, msg := transact(t, ch, submitConn, "app@example.org", []string{"someone@example.net"}, submitted)
	if reply != "" {
		t.Fatalf("rejected: %s", reply)
	}
	out := final(msg)
	sigs := headerValues([]byte(out), "DKIM-Signature")
	if len(sigs) != 2 {
		t.Fatalf("%d signatures, want 2:\n%s", len(sigs), out)
	}
	for i, algo := range []string{"rsa-sha256", "ed25519-sha256"} {
		s := sigs[i]
		if tagValue(s, "a") != algo || tagValue(s, "c") != "relaxed/relaxed" || tagValue(s, "d") != "example.org" {
			t.Errorf("signature %d: %s", i, s)
		}
		h := strings.ToLower(tagValue(s, "h"))
		want := "from:from:subject:subject:date:to:message-id:mime-version:content-type"
		if h != want {
			t.Errorf("signature %d signs h=%s, want %s", i, h, want)
		}
	}
	if got := verifyAll(t, srv, out); !reflect.DeepEqual(got, []string{"pass", "pass"}) {
		t.Errorf("go-msgauth: %v, want both pass", got)
	}
	// Over-signing: a second From or Subject added on top breaks both.
	for _, extra := range []string{"From: evil@example.com\r\n", "Subject: Pay now\r\n"} {
		if got := verifyAll(t, srv, extra+out); !reflect.DeepEqual(got, []string{"fail", "fail"}) {
			t.Errorf("with %q added: %v, want both fail", strings.TrimSpace(extra), got)
		}
	}
}

// TestDKIMSignDkimpy checks our signatures with an independent verifier,
// dkimpy (Debian python3-dkim), which fetches the keys from the loopback
// DNS server.
func TestDKIMSignDkimpy(t *testing.T) {
	t.Parallel()
	testenv.Tool(t, "dkimverify") // python3-dkim is installed
	ch, srv := signingSetup(t)
	_, msg := transact(t, ch, submitConn, "app@example.org", []string{"someone@example.net"}, submitted)
	cases := map[string]string{
		final(msg): "0 pass\n1 pass\n",
		// A changed body must fail there too, or the check proves nothing.
		strings.Replace(final(msg), "invoice attached", "invoice attached!", 1): "0 fail\n1 fail\n",
	}
	for in, want := range cases {
		cmd := exec.Command("/usr/bin/python3", "testdata/dkimpy_verify.py", srv.Addr)
		cmd.Stdin = strings.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dkimpy: %v\n%s", err, stderr.String())
		}
		if got := string(out); got != want {
			t.Errorf("dkimpy says:\n%s%s\nwant:\n%s", got, stderr.String(), want)
		}
	}
}

func TestDKIMSignDomainChoice(t *testing.T) {
	t.Parallel()
	ch, _ := signingSetup(t)
	cases := []struct{ from, wantD string }{
		{"app@example.org", "example.org"},
		{"Someone <x@customer.example>", "example.org"}, // no key: default domain
	}
	for _, c := range cases {
		raw := strings.Replace(submitted, "App <app@example.org>", c.from, 1)
		_, msg := transact(t, ch, submitConn, "app@example.org", []string{"a@example.net"}, raw)
		sigs := headerValues([]byte(final(msg)), "DKIM-Signature")
		if len(sigs) != 2 || tagValue(sigs[0], "d") != c.wantD {
			t.Errorf("From %s: signatures %q", c.from, sigs)
		}
	}
	// Without a default domain, mail from a domain without a key goes out
	// unsigned.
	path, _ := keyPair(t, "ed25519")
	cfg := testConfig(t, []string{"dkim_sign"}, "filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: s, file: "+path+"}]\n")
	_, msg := transact(t, newChain(t, cfg, Deps{}), submitConn, "x@customer.example", nil, strings.Replace(submitted, "app@example.org", "x@customer.example", 1))
	if n := len(headerValues([]byte(final(msg)), "DKIM-Signature")); n != 0 {
		t.Errorf("%d signatures for a domain without key", n)
	}
}

// TestDKIMSignLast checks that signing runs after every check wherever it
// is listed: a rejected message is not signed, and the repairs made by a
// check (Date, Message-ID) are covered by the signature.
func TestDKIMSignLast(t *testing.T) {
	t.Parallel()
	rsaPath, rsaTXT := keyPair(t, "rsa")
	cfg := testConfig(t, []string{"dkim_sign", "sender_policy"}, "filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: s, file: "+rsaPath+"}]\n")
	srv := dnstest.Start(t, txtRecord("s._domainkey.example.org", rsaTXT))
	ch := newChain(t, cfg, Deps{SendAs: func(a, addr string) bool { return a == addr }})
	noDate := strings.Replace(strings.Replace(submitted, "Date: Wed, 25 Nov 2026 10:00:00 +0000\n", "", 1), "Message-ID: <42@example.org>\n", "", 1)
	reply, msg := transact(t, ch, submitConn, "app@example.org", []string{"a@example.net"}, noDate)
	if reply != "" {
		t.Fatal(reply)
	}
	out := final(msg)
	if !strings.HasPrefix(out, "DKIM-Signature:") {
		t.Errorf("signature is not on top:\n%s", out)
	}
	h := strings.ToLower(tagValue(headerValues([]byte(out), "DKIM-Signature")[0], "h"))
	if !strings.Contains(h, "date") || !strings.Contains(h, "message-id") {
		t.Errorf("added Date/Message-ID not signed: h=%s", h)
	}
	if got := verifyAll(t, srv, out); !reflect.DeepEqual(got, []string{"pass"}) {
		t.Errorf("verify: %v", got)
	}
	forged := strings.Replace(submitted, "app@example.org", "boss@example.org", 1)
	reply, _ = transact(t, ch, submitConn, "app@example.org", []string{"a@example.net"}, forged)
	if want := "553 5.7.1 header From <boss@example.org> is not an address of app@example.org; use your own address, an alias or a send-as address"; reply != want {
		t.Errorf("reply %q, want %q", reply, want)
	}
}

func BenchmarkChainDKIMSign(b *testing.B) {
	for _, algo := range []string{"rsa", "ed25519"} {
		b.Run(algo, func(b *testing.B) {
			path, _ := keyPair(b, algo)
			cfg := testConfig(b, []string{"sender_policy", "dkim_sign"}, "filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: s, file: "+path+"}]\n")
			ch := newChain(b, cfg, Deps{SendAs: func(a, addr string) bool { return true }})
			body := strings.Repeat("A line of a typical message body, about seventy characters long....\n", 300)
			raw := submitted + body
			b.SetBytes(int64(len(raw)))
			b.ResetTimer()
			for b.Loop() {
				if reply, _ := transact(b, ch, submitConn, "app@example.org", []string{"a@example.net"}, raw); reply != "" {
					b.Fatal(reply)
				}
			}
		})
	}
}
