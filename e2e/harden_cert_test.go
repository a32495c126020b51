package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// TestSelfSignedCertificateVerifiesOnLoopback: Python's ssl, with the
// generated certificate as its only CA, verifies the server as
// 127.0.0.1, localhost, ::1 and its hostname, on IMAPS and submissions (issue 14: the certificate named only the hostname, so a
// client that verifies failed on loopback as the README shows it).
func TestSelfSignedCertificateVerifiesOnLoopback(t *testing.T) {
	python := testenv.Tool(t, "python3")
	srv := mgtest.Start(t, mgtest.Options{Hostname: "mail.example.test", Protocols: []string{"submissions", "imaps"}})
	ca := filepath.Join(srv.DataDir, "tls", "selfsigned.crt")
	const script = `
import socket, ssl, sys
ca, port = sys.argv[1], int(sys.argv[2])
for name in sys.argv[3:]:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            print(name, "verified")
`
	for _, proto := range []string{"submissions", "imaps"} {
		port := srv.Addr[proto][strings.LastIndexByte(srv.Addr[proto], ':')+1:]
		out, err := exec.Command(python, "-c", script, ca, port, "127.0.0.1", "localhost", "mail.example.test", "::1").CombinedOutput()
		if err != nil {
			t.Errorf("%s: python ssl: %v\n%s", proto, err, out)
		}
	}
}
