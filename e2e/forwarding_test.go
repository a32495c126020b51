package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mailgate/internal/dnstest"
	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
	"mailgate/sieve/scripts"
)

// forwardZone is the DNS of the forwarding test: origin.test sends only
// from 127.0.0.5 (-all, DMARC p=reject), fwd.test (the forwarder) from
// 127.0.0.1, and both outside.test and origin.test take mail at the
// receiving server on 127.0.0.1.
var forwardZone = []string{
	`origin.test. 300 IN TXT "v=spf1 ip4:127.0.0.5 -all"`,
	`_dmarc.origin.test. 300 IN TXT "v=DMARC1; p=reject"`,
	`fwd.test. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
	"outside.test. 300 IN MX 10 mx.outside.test.",
	"origin.test. 300 IN MX 10 mx.outside.test.",
	"mx.outside.test. 300 IN A 127.0.0.1",
}

// forwardPair starts the receiver (outside.test and origin.test; its SPF
// filter refuses a fail, its DMARC filter trusts fwd.test's ARC seals)
// and the forwarder (fwd.test: list@ and keep@
// forward to bob@outside.test; keep@ keeps the original sender), whose
// remote deliveries go to the receiver. It returns them and the DNS
// server's address.
func forwardPair(t *testing.T) (fwd, recv *mgtest.Server, dnsAddr string) {
	dir := t.TempDir()
	out, code := mgtest.Run(t, dir, "", "dkim", "keygen", "fwd.test", "--selector", "arc", "--algorithm", "rsa", "--out", dir)
	if code != 0 {
		t.Fatalf("dkim keygen: %s", out)
	}
	key := regexp.MustCompile(`(?m)^arc\._domainkey\.fwd\.test\. .*$`).FindString(out)
	dns := dnstest.Start(t, append(forwardZone, key)...)
	recv = mgtest.Start(t, mgtest.Options{Hostname: "mx.outside.test", LocalDomain: "outside.test, origin.test",
		Protocols: []string{"smtp"}, DNS: dns.Addr, Filters: map[string][]string{"smtp": {"spf", "dkim_verify", "arc_verify", "dmarc"}},
		Config: "filters:\n  dmarc:\n    trusted_arc_sealers: [fwd.test]\n",
		Users:  map[string]string{"bob@outside.test": "pw-bob-1234", "alice@origin.test": "pw-alice-1234"}})
	_, port, _ := strings.Cut(recv.Addr["smtp"], ":")
	fwd = mgtest.Start(t, mgtest.Options{Hostname: "mx.fwd.test", LocalDomain: "fwd.test", Protocols: []string{"smtp"},
		Users: map[string]string{"carol@fwd.test": "pw-carol-1234"},
		DNS:   dns.Addr, Filters: map[string][]string{"smtp": {"spf", "dkim_verify", "dmarc"}},
		Delivery: "  port: " + port + "\n  forwarding:\n    keep_sender: [keep@fwd.test]\n",
		Config: "queue:\n  first_retry: 1s\n  max_retry_interval: 1s\nfilters:\n  dkim_sign:\n    keys:\n" +
			"      - {domain: fwd.test, selector: arc, file: " + filepath.Join(dir, "fwd.test.arc.pem") + "}\n"})
	fwd.Kill()
	accFile := filepath.Join(fwd.DataDir, "accounts.yaml")
	acc, err := os.ReadFile(accFile)
	if err != nil {
		t.Fatal(err)
	}
	acc = append(acc, "forwards:\n  list@fwd.test: [bob@outside.test]\n  keep@fwd.test: [bob@outside.test]\n"...)
	if err := os.WriteFile(accFile, acc, 0o600); err != nil {
		t.Fatal(err)
	}
	// carol@fwd.test redirects with Sieve.
	st, err := scripts.New(filepath.Join(fwd.DataDir, "sieve"), scripts.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put("carol@fwd.test", "fwd", []byte("redirect \"bob@outside.test\";\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.SetActive("carol@fwd.test", "fwd"); err != nil {
		t.Fatal(err)
	}
	fwd.Restart()
	return fwd, recv, dns.Addr
}

// TestForwardSRSAndARC: a message from origin.test (SPF -all, DMARC
// p=reject) sent to a forward of fwd.test reaches the receiver with an
// SRS0 envelope sender in fwd.test, so the receiver's SPF filter passes
// it, and with an ARC set that dkimpy's arc_verify and the receiver's
// arc_verify accept (its DMARC filter trusts fwd.test's seals). A forward
// listed in keep_sender keeps the original sender and is refused there
// for SPF. A Sieve redirect (sent from the account's address) is sealed
// as well. A bounce to the SRS address, after `mailgate srs rotate`,
// reaches the original sender with the null sender kept; a forged SRS
// address gets 550 5.1.1.
func TestForwardSRSAndARC(t *testing.T) {
	t.Parallel()
	swaks := testenv.Tool(t, "swaks")
	fwd, recv, dnsAddr := forwardPair(t)
	send := func(from, to, subject string, extra ...string) string {
		author := "Alice <alice@origin.test>"
		if from == "<>" {
			author = "Mail Delivery System <MAILER-DAEMON@outside.test>"
		}
		msg := "From: " + author + "\r\nTo: " + to + "\r\nSubject: " + subject +
			"\r\nDate: Sat, 05 Dec 2026 05:00:00 +0000\r\nMessage-ID: <" + subject + "@origin.test>\r\n\r\nHello.\r\n"
		file := filepath.Join(t.TempDir(), "msg")
		os.WriteFile(file, []byte(msg), 0o600)
		h, p, _ := strings.Cut(fwd.Addr["smtp"], ":")
		args := append([]string{"--server", h, "--port", p, "--from", from, "--to", to, "--data", file, "--timeout", "60"}, extra...)
		out, _ := exec.Command(swaks, args...).CombinedOutput()
		return string(out)
	}
	// The original server: 127.0.0.5, the one origin.test's SPF names.
	if out := send("alice@origin.test", "list@fwd.test", "srs-forward", "--local-interface", "127.0.0.5"); !strings.Contains(out, "<-  250 2.0.0") {
		t.Fatalf("the forwarder refused the message:\n%s", out)
	}
	stored := waitStored(t, recv, "bob@outside.test", "srs-forward")
	ar := regexp.MustCompile(`spf=pass smtp\.mailfrom="?(SRS0=[^=]{4}=[A-Z2-7]{2}=origin\.test=alice@fwd\.test)`).FindStringSubmatch(unfoldLF(stored))
	if ar == nil {
		t.Fatalf("the receiver did not see an SRS sender passing SPF:\n%s", stored)
	}
	if got := arcVerify(t, dnsAddr, stored); got != "pass" {
		t.Fatalf("dkimpy's arc_verify says %q of\n%s", got, stored)
	}
	if !strings.Contains(unfoldLF(stored), "ARC-Authentication-Results: i=1; mx.fwd.test; spf=pass smtp.mailfrom=alice@origin.test") {
		t.Errorf("the ARC set does not record the SPF pass seen on arrival:\n%s", stored)
	}
	// The receiver's own checks: the chain passes, and DMARC (p=reject,
	// not aligned with the SRS sender) is overridden by the trusted seal.
	if want := "arc=pass smtp.remote-ip=127.0.0.1; dmarc=fail reason=\"p=reject overridden: ARC chain sealed by trusted fwd.test\""; !strings.Contains(unfoldLF(stored), want) {
		t.Errorf("the receiver's Authentication-Results lack %q:\n%s", want, stored)
	}

	// A Sieve redirect goes from carol's own address (no SRS needed) and is
	// sealed too, which is what gets it past origin.test's p=reject there.
	send("alice@origin.test", "carol@fwd.test", "sieve-redirect", "--local-interface", "127.0.0.5")
	redirected := waitStored(t, recv, "bob@outside.test", "sieve-redirect")
	if want := "spf=pass smtp.mailfrom=carol@fwd.test; dkim=none; arc=pass"; !strings.Contains(unfoldLF(redirected), want) {
		t.Errorf("the Sieve redirect lacks %q at the receiver:\n%s", want, redirected)
	}
	if got := arcVerify(t, dnsAddr, redirected); got != "pass" {
		t.Errorf("dkimpy's arc_verify says %q of the Sieve redirect", got)
	}

	// keep_sender: the original sender goes on, and SPF fails at the receiver.
	send("alice@origin.test", "keep@fwd.test", "kept-sender", "--local-interface", "127.0.0.5")
	if line := fwd.WaitLog("msg=bounced"); !strings.Contains(line, "550 5.7.") {
		t.Errorf("a forward that keeps the sender was not refused for SPF: %s", line)
	}

	// A forged address, and a rotation before the real bounce comes back.
	if out := send("<>", "SRS0=AAAA=ZZ=origin.test=alice@fwd.test", "forged"); !strings.Contains(out, "<** 550 5.1.1") {
		t.Errorf("a forged SRS address was not refused with 550 5.1.1:\n%s", out)
	}
	if out, code := mgtest.Run(t, fwd.Dir, "", "srs", "rotate", "-config", fwd.ConfigPath); code != 0 {
		t.Fatalf("srs rotate: %s", out)
	}
	time.Sleep(1100 * time.Millisecond) // the key file is reread at most once a second
	if out := send("<>", ar[1], "bounce-back"); !strings.Contains(out, "<-  250 2.0.0") {
		t.Fatalf("the bounce to %s was refused after a key rotation:\n%s", ar[1], out)
	}
	bounce := waitStored(t, recv, "alice@origin.test", "bounce-back")
	// The receiver checked the HELO name: the reverse path stayed <>.
	if !strings.Contains(bounce, "spf=none smtp.helo=mx.fwd.test") || !strings.Contains(bounce, "identity=helo") {
		t.Errorf("the bounce was not sent on with the null sender:\n%s", bounce)
	}
}

// waitStored waits until account's mailbox in srv holds a message with
// subject, and returns it.
func waitStored(t *testing.T, srv *mgtest.Server, account, subject string) string {
	t.Helper()
	deadline := time.Now().Add(mgtest.Timeout)
	for time.Now().Before(deadline) {
		var found []byte
		filepath.WalkDir(srv.DataDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || found != nil || !strings.Contains(p, account) {
				return nil
			}
			if dir := filepath.Base(filepath.Dir(p)); dir != "new" && dir != "cur" {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte("Subject: "+subject+"\r\n")) {
				found = b
			}
			return nil
		})
		if found != nil {
			return string(found)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message %q for %s after %v; receiver log:\n%s", subject, account, mgtest.Timeout, srv.Logs())
	return ""
}

// arcVerify runs dkimpy's arc_verify on msg, keys from the DNS server.
func arcVerify(t *testing.T, dnsAddr, msg string) string {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import dkim, dns").Run(); err != nil {
		t.Skip("python3-dkim is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), mgtest.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "../filters/testdata/dkimpy_verify.py", dnsAddr, "arc")
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy_verify.py arc: %v\n%s", err, stderr.String())
	}
	t.Logf("arc_verify: %s", strings.TrimSpace(stderr.String()))
	return strings.TrimSpace(string(out))
}

// unfoldLF joins folded header lines and makes line ends LF.
func unfoldLF(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return regexp.MustCompile(`\n[ \t]+`).ReplaceAllString(s, " ")
}
