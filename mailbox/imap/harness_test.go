package imap

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"mailgate/mailbox"
)

// testAuth knows alice (password "secret") and bob ("hunter2").
type testAuth struct{}

func (testAuth) Authenticate(ctx context.Context, username, password string) (string, error) {
	users := map[string][2]string{"alice": {"secret", "alice@example.com"}, "bob@example.com": {"hunter2", "bob@example.com"}}
	if u, ok := users[username]; ok && u[0] == password {
		return u[1], nil
	}
	return "", errors.New("bad password")
}

const alice = "alice@example.com"

type testEnv struct {
	dir       string // the store's root
	store     *mailbox.Store
	srv       *Server
	plainAddr string
	tlsAddr   string
}

func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// startServer runs a Server on two loopback listeners (STARTTLS and
// implicit TLS) over a fresh store.
func startServer(t testing.TB, tweak func(*Options)) *testEnv {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mail")
	store, err := mailbox.New(mailbox.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Store: store, Auth: testAuth{}, TLS: selfSigned(t)}
	if tweak != nil {
		tweak(&opts)
	}
	srv := New(opts)
	env := &testEnv{dir: dir, store: store, srv: srv}
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			env.tlsAddr = ln.Addr().String()
		} else {
			env.plainAddr = ln.Addr().String()
		}
		go srv.Serve(ln, implicit)
	}
	t.Cleanup(func() { srv.Close() })
	return env
}

var clientTLS = &tls.Config{InsecureSkipVerify: true}

// login opens an implicit-TLS client session as alice.
func (e *testEnv) login(t testing.TB, h *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialTLS(e.tlsAddr, &imapclient.Options{TLSConfig: clientTLS, UnilateralDataHandler: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// rawConn is a line-level IMAP connection for exact reply checks.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t testing.TB, addr string, useTLS bool) *rawConn {
	t.Helper()
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", addr, clientTLS)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading reply: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// until reads lines up to and including the one starting with prefix.
func (c *rawConn) until(prefix string) []string {
	c.t.Helper()
	var out []string
	for {
		l := c.line()
		out = append(out, l)
		if strings.HasPrefix(l, prefix) {
			return out
		}
	}
}

// rest reads everything until the server closes the connection.
func (c *rawConn) rest() string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
