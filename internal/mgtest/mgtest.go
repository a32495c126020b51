// Package mgtest runs the real mailgate binary for end-to-end tests: it
// builds cmd/mailgate once per test process, writes a config with free
// loopback ports into a temp dir, starts `mailgate serve`, waits for the
// `msg=ready` log line, and stops, kills and restarts the server on the
// same data directory. Tests then talk to it with real clients.
//
// Typical use:
//
//	func TestMain(m *testing.M) { mgtest.Main(m) } // removes the built binary at exit
//
//	func TestSomething(t *testing.T) {
//		srv := mgtest.Start(t, mgtest.Options{Users: map[string]string{"alice@localhost": "pw"}})
//		addr := srv.Addr["submission"] // 127.0.0.1:port
//		...
//		srv.Kill()    // SIGKILL, waits for the exit
//		srv.Restart() // same config, ports and data dir
//	}
//
// Everything lives under t.TempDir(); the server is stopped (SIGKILL if it
// is still running) when the test ends, and its log is printed if the test
// failed.
package mgtest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds every wait in this package (start-up, exit, a log line);
// nothing sleeps, a wait ends as soon as its event happens.
const Timeout = 60 * time.Second

// Options shape the server a test starts. The zero value runs the three
// SMTP listeners for the local domain "localhost".
type Options struct {
	// Embedded runs `mailgate serve` with no -config: the embedded default
	// config with its fixed ports (127.0.0.1:2525, 2587, 2465), in a fresh
	// working directory so that ./mailgate-data is new. Only one such
	// server can run on a machine at a time; Config, Protocols and
	// Hostname are ignored.
	Embedded bool
	// Hostname and LocalDomain default to "localhost".
	Hostname, LocalDomain string
	// Protocols are the listeners to run, each on a free 127.0.0.1 port and
	// named after its protocol ("smtp" is named "mx"). Default: smtp,
	// submission, submissions.
	Protocols []string
	// Addrs fixes the address of a protocol's listener (from FreeAddr),
	// for a peer that must know it before the server starts; the others
	// get a free port.
	Addrs map[string]string
	// DNS is the DNS server (host:port) for MX and SPF/DKIM/DMARC lookups,
	// such as dnstest.Start(...).Addr. Default: a closed loopback port, so
	// the machine's resolver is never asked; every lookup fails
	// temporarily and mail for remote domains stays queued (deferred).
	DNS string
	// Delivery is YAML appended inside the delivery block, indented two
	// spaces (for example "  port: 2526\n").
	Delivery string
	// Config is YAML appended to the generated config: any top-level key
	// but hostname, data_dir, local_domains, listeners and delivery (for
	// example "limits:\n  max_recipients: 5\n").
	Config string
	// Filters are the filter lists of listeners, by protocol (for example
	// {"smtp": {"ratelimit"}}); a listener not named here runs none.
	Filters map[string][]string
	// Users are created with `mailgate user add ADDRESS --password-stdin`
	// before the server starts (address -> password). With Embedded, any
	// user means serve creates no postmaster account and prints no
	// password.
	Users map[string]string
}

// Server is one mailgate process and the files it works on.
type Server struct {
	t testing.TB
	// Dir is the test's directory: the config file and, for an embedded
	// server, the working directory.
	Dir string
	// DataDir is the data directory (accounts, spool, TLS certificate).
	DataDir string
	// ConfigPath is the config file; "" for an embedded server.
	ConfigPath string
	// Addr maps a protocol (smtp, submission, ...) to its host:port.
	Addr map[string]string
	// Hostname is the server's hostname (the certificate's name).
	Hostname string
	// Password is the first account's password that serve prints on its
	// first start on the embedded default ("" otherwise).
	Password string

	proc *process
	// logs holds every line of every run, in order.
	mu   sync.Mutex
	logs []string
}

// Start writes the config, creates opts.Users and starts the server; it
// returns once the server logged msg=ready.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, Dir: t.TempDir(), Addr: map[string]string{}}
	if opts.Embedded {
		s.DataDir = filepath.Join(s.Dir, "mailgate-data")
		s.Hostname = "localhost"
		s.Addr = map[string]string{"smtp": "127.0.0.1:2525", "submission": "127.0.0.1:2587", "submissions": "127.0.0.1:2465"}
	} else {
		s.writeConfig(opts)
	}
	for addr, pw := range opts.Users {
		s.AddUser(addr, pw)
	}
	t.Cleanup(func() {
		if s.proc != nil && !s.proc.exited() {
			s.Kill()
		}
		if t.Failed() {
			t.Logf("mailgate log:\n%s", s.Logs())
		}
	})
	s.Restart()
	return s
}

func (s *Server) writeConfig(o Options) {
	s.Hostname = or(o.Hostname, "localhost")
	s.DataDir = filepath.Join(s.Dir, "data")
	s.ConfigPath = filepath.Join(s.Dir, "mailgate.yaml")
	protos := o.Protocols
	if len(protos) == 0 {
		protos = []string{"smtp", "submission", "submissions"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hostname: %s\ndata_dir: %s\nlocal_domains: [%s]\nlisteners:\n", s.Hostname, s.DataDir, or(o.LocalDomain, "localhost"))
	for _, p := range protos {
		name := p
		if p == "smtp" {
			name = "mx"
		}
		s.Addr[p] = o.Addrs[p]
		if s.Addr[p] == "" {
			s.Addr[p] = FreeAddr(s.t)
		}
		fmt.Fprintf(&b, "  - name: %s\n    protocol: %s\n    address: %s\n", name, p, s.Addr[p])
		if f := o.Filters[p]; len(f) > 0 {
			fmt.Fprintf(&b, "    filters: [%s]\n", strings.Join(f, ", "))
		}
	}
	fmt.Fprintf(&b, "delivery:\n  dns: %s\n", or(o.DNS, deadDNS(s.t)))
	b.WriteString(o.Delivery)
	b.WriteString(o.Config)
	if err := os.WriteFile(s.ConfigPath, []byte(b.String()), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// FreeAddr returns a 127.0.0.1 port that was free a moment ago and that
// this test process has not handed out before: the kernel may give the
// same ephemeral port to two quick Listen(":0") calls, which once put two
// listeners of one config on one address. Ports come from below the
// ephemeral range, so the outgoing connections of test binaries running
// alongside (which once took a port between this check and mailgate's
// listen) cannot collide with them. Each port is also claimed for the
// life of this process with a lock file shared by every test binary (see
// claimPort), because a test that stops and restarts mailgate leaves its
// ports free in between, and a test in another package once took one.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for i := range 200 {
		ln, err := listenBelowEphemeral()
		if err != nil && i >= 100 {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		givenMu.Lock()
		fresh := !given[addr] && claimPort(addr)
		given[addr] = true
		givenMu.Unlock()
		if fresh {
			return addr
		}
	}
	t.Fatal("mgtest: no fresh loopback port after 200 tries")
	return ""
}

// listenBelowEphemeral listens on a random port below the kernel's
// ephemeral range (32768 and up by default), where no outgoing connection
// of the other test binaries running at the same time can take it between
// this check and mailgate's own listen.
func listenBelowEphemeral() (net.Listener, error) {
	port := 20000 + rand.IntN(12000)
	return net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}

var (
	givenMu sync.Mutex
	given   = map[string]bool{} // ports FreeAddr has handed out
)

// deadDNS returns a loopback UDP port with nothing behind it: queries to
// it are refused at once.
func deadDNS(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// MailDir is where local delivery stores mail: MailDir/ACCOUNT/ is a
// Maildir++.
func (s *Server) MailDir() string { return filepath.Join(s.DataDir, "mail") }

// configArgs is the -config flag for every subcommand.
func (s *Server) configArgs() []string {
	if s.ConfigPath == "" {
		return nil
	}
	return []string{"-config", s.ConfigPath}
}

// AddUser runs `mailgate user add ADDRESS --password-stdin
// --allow-short-password`. A running
// server sees the new account within a second (accounts.yaml is checked
// at most once a second); add users through Options.Users to have them
// from the first connection.
func (s *Server) AddUser(addr, password string) {
	s.t.Helper()
	// Tests use short passwords ("pw"); the CLI refuses them without
	// --allow-short-password.
	args := append([]string{"user", "add", addr, "--password-stdin", "--allow-short-password"}, s.configArgs()...)
	if out, code := s.Run(password+"\n", args...); code != 0 {
		s.t.Fatalf("mailgate user add %s: exit %d: %s", addr, code, out)
	}
}

// Run runs a mailgate subcommand in the server's directory with stdin
// and returns its combined output and exit code.
func (s *Server) Run(stdin string, args ...string) (string, int) {
	s.t.Helper()
	return Run(s.t, s.Dir, stdin, args...)
}

// Run runs the mailgate binary with args in dir and returns its combined
// output and exit code.
func Run(t testing.TB, dir, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("mailgate %v: %v", args, err)
	}
	return string(out), 0
}

// ClientTLS returns a TLS client config that trusts exactly the server's
// self-signed certificate (generated in DataDir/tls on the first start).
func (s *Server) ClientTLS() *tls.Config {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.DataDir, "tls", "selfsigned.crt"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("mgtest: cannot parse the server certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: s.Hostname}
}

// SpoolDir is the queue's spool directory.
func (s *Server) SpoolDir() string { return filepath.Join(s.DataDir, "queue") }

// Logs returns every log line of every run so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.logs, "\n")
}

func (s *Server) addLog(line string) {
	s.mu.Lock()
	s.logs = append(s.logs, line)
	s.mu.Unlock()
}

var passwordRE = regexp.MustCompile(`\bpassword=(\S+)`)

// Restart starts the server process (again) with the same config, ports
// and data directory, and waits for msg=ready. The previous process must
// have exited (Stop or Kill).
func (s *Server) Restart() {
	s.t.Helper()
	if s.proc != nil && !s.proc.exited() {
		s.t.Fatal("mgtest: Restart while the server is running; Stop or Kill it first")
	}
	p, err := startProcess(s, append([]string{"serve"}, s.configArgs()...))
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = p
	select {
	case <-p.ready:
	case <-p.done:
		s.t.Fatalf("mailgate serve exited (%v) before it was ready:\n%s", p.err, s.Logs())
	case <-time.After(Timeout):
		s.t.Fatalf("mailgate serve not ready after %v:\n%s", Timeout, s.Logs())
	}
	if m := passwordRE.FindStringSubmatch(p.passwordLine()); m != nil {
		s.Password = m[1]
	}
}

// Stop sends SIGTERM and waits for the server to exit; it returns the
// exit code (0 for a clean shutdown).
func (s *Server) Stop() int {
	s.t.Helper()
	return s.signal(syscall.SIGTERM)
}

// Kill sends SIGKILL and waits for the process to be gone: nothing it had
// not yet written survives, as in a crash or power loss of the process.
func (s *Server) Kill() {
	s.t.Helper()
	s.signal(syscall.SIGKILL)
}

func (s *Server) signal(sig syscall.Signal) int {
	s.t.Helper()
	p := s.proc
	if p == nil || p.exited() {
		s.t.Fatal("mgtest: the server is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("mgtest: %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(Timeout):
		p.cmd.Process.Kill()
		s.t.Fatalf("mailgate did not exit within %v of %v", Timeout, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// WaitLog waits until a log line of the current run contains substr and
// returns that line; it fails the test if the server exits first.
func (s *Server) WaitLog(substr string) string {
	s.t.Helper()
	return s.WaitLogN(substr, 1)
}

// WaitLogN waits for the n-th log line of the current run that contains
// substr (n >= 1) and returns it.
func (s *Server) WaitLogN(substr string, n int) string {
	s.t.Helper()
	ch := s.proc.watchN(substr, n)
	select {
	case line := <-ch:
		return line
	case <-s.proc.done:
		// The line may have been the last one written.
		select {
		case line := <-ch:
			return line
		default:
		}
		s.t.Fatalf("mailgate exited before logging %q:\n%s", substr, s.Logs())
	case <-time.After(Timeout):
		s.t.Fatalf("no log line with %q after %v:\n%s", substr, Timeout, s.Logs())
	}
	return ""
}

// Exited reports whether the current process has exited.
func (s *Server) Exited() bool { return s.proc == nil || s.proc.exited() }

// scanLines feeds each line of the process's output to p.line.
func scanLines(p *process, r *os.File) {
	defer close(p.eof)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		p.line(sc.Text())
	}
}
