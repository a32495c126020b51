package pop3

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// testAuth is the Authenticator of the tests: user name -> password, and
// the account is the lower-cased user name.
type testAuth map[string]string

func (a testAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	if p, ok := a[strings.ToLower(user)]; ok && p == pass {
		return strings.ToLower(user), nil
	}
	return "", errors.New("bad credentials")
}

// env is a running server with a store, a certificate and both listeners.
type env struct {
	srv      *Server
	store    testStore
	plain    string // STLS listener address
	implicit string // implicit-TLS listener address
	caFile   string // PEM of the self-signed server certificate
	roots    *x509.CertPool
	reg      *prometheus.Registry
}

// startServer runs a server on 127.0.0.1 with users alice/secret and
// bob/hunter2. edit may change the options first.
func startServer(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	cert, caFile, roots := selfSigned(t)
	e := &env{store: newTestStore(t), caFile: caFile, roots: roots, reg: prometheus.NewRegistry()}
	opts := Options{
		Store:            e.store,
		Auth:             testAuth{"alice": "secret", "bob": "hunter2"},
		TLS:              &tls.Config{Certificates: []tls.Certificate{cert}},
		Registerer:       e.reg,
		Hostname:         "pop.test",
		AuthFailureDelay: time.Millisecond,
	}
	if edit != nil {
		edit(&opts)
	}
	e.srv = New(opts)
	e.plain = e.listen(t, false)
	if opts.TLS != nil {
		e.implicit = e.listen(t, true)
	}
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *env) listen(t testing.TB, implicit bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln, implicit) }()
	t.Cleanup(func() {
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost and writes
// its PEM for the external clients.
func selfSigned(t testing.TB) (tls.Certificate, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, caFile, roots
}

// client speaks POP3 to the server line by line.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	// idPattern lets "(session ID)" in an expected line match any
	// session ID.
	idPattern bool
}

// dial connects to the plain listener and checks the greeting.
func (e *env) dial(t testing.TB) *client {
	t.Helper()
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn)
}

// dialTLS connects to the implicit-TLS listener and checks the greeting.
func (e *env) dialTLS(t testing.TB) *client {
	t.Helper()
	conn, err := tls.Dial("tcp", e.implicit, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, conn)
}

func newClient(t testing.TB, conn net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("+OK pop.test POP3 server ready")
	return c
}

// login logs in over TLS as user with AUTH PLAIN.
func (e *env) login(t testing.TB, user, pass string) *client {
	t.Helper()
	c := e.dialTLS(t)
	c.send("USER " + user)
	c.expect("+OK send PASS")
	c.send("PASS " + pass)
	if l := c.line(); !strings.HasPrefix(l, "+OK logged in, ") {
		t.Fatalf("login as %s: %q", user, l)
	}
	return c
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(line + "\r\n")); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// line reads one reply line; the CRLF must be there and is removed.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) expect(want ...string) {
	c.t.Helper()
	for _, w := range want {
		got := c.line()
		if c.idPattern {
			got = sessionID.ReplaceAllString(got, "(session ID)")
		}
		if got != w {
			c.t.Fatalf("got %q, want %q", got, w)
		}
	}
}

// converse plays a script: "C: " lines are sent, "S: " lines must be the
// replies, in order.
func (c *client) converse(script string) {
	c.t.Helper()
	for _, l := range strings.Split(strings.TrimRight(strings.TrimLeft(script, "\n\t "), "\n"), "\n") {
		l = strings.TrimLeft(l, " \t")
		switch {
		case l == "C:":
			c.send("")
		case strings.HasPrefix(l, "C: "):
			c.send(l[3:])
		case strings.HasPrefix(l, "S: "):
			c.expect(l[3:])
		case l == "S:":
			c.expect("")
		default:
			c.t.Fatalf("bad script line %q", l)
		}
	}
}

// expectClosed checks that the server closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	if l, err := c.r.ReadString('\n'); err == nil {
		c.t.Fatalf("connection still open, got %q", l)
	}
}

var sessionID = regexp.MustCompile(`\(session [A-Z2-7]{12}\)$`)

// startTLS sends STLS and upgrades the client side of the connection.
func (c *client) startTLS(e *env) {
	c.t.Helper()
	c.converse("C: STLS\nS: +OK begin TLS negotiation")
	c.upgrade(e)
}

func (c *client) upgrade(e *env) {
	c.t.Helper()
	tc := tls.Client(c.conn, &tls.Config{RootCAs: e.roots, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake after STLS: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
}
