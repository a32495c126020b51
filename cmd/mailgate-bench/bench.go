package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"mailgate/config"
	"mailgate/loadgen"
	"mailgate/resolver"
)

const benchUsage = `usage: mailgate-bench send|sink|imap [flags]   (loopback only)

  send   submit N messages over C connections and report msgs/s and latency
  sink   an SMTP server that accepts, counts (and optionally DKIM-verifies
         or saves) messages, for end-to-end runs
  imap   N concurrent IMAP clients doing login, select, fetch, store,
         search, append, expunge; reports operations/s and latency
Run "mailgate-bench send -h" for the flags of each.
`

// benchCommand runs the load tools of the loadgen package. -h prints
// the usage, or a tool's flags, on stdout and exits 0.
func benchCommand(args []string, stdout, stderr io.Writer) int {
	tools := map[string]func(args []string, stdout, stderr io.Writer) int{
		"send": benchSend, "sink": benchSink, "imap": benchIMAP,
	}
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, benchUsage)
		return 0
	}
	if len(args) == 0 || tools[args[0]] == nil {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	if slices.ContainsFunc(args[1:], isHelp) {
		tools[args[0]](args[1:], stdout, stdout) // prints the flags, does nothing else
		return 0
	}
	return tools[args[0]](args[1:], stdout, stderr)
}

// isHelp tells whether a is -h, -help or --help: a flag set prints its
// flags then, and the tool does nothing.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func benchSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailgate-bench send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.SendOptions
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:2587", "server address (loopback)")
	fs.IntVar(&o.N, "n", 1000, "messages to send")
	size := fs.String("size", "4KB", "message size (4KB, 100KB, 1MB or bytes)")
	fs.IntVar(&o.Concurrency, "c", 10, "concurrent connections")
	fs.BoolVar(&o.Reuse, "reuse", false, "send many messages per connection (default: one connection per message)")
	fs.StringVar(&o.TLS, "tls", "none", "none, starttls or implicit")
	fs.StringVar(&o.User, "user", "", "AUTH PLAIN as this user")
	passFile := fs.String("password-file", "", "file holding the AUTH password")
	fs.StringVar(&o.From, "from", "loadgen@localhost", "sender address")
	to := fs.String("to", "sink@sink.localhost", "recipients, comma-separated")
	fs.DurationVar(&o.MaxDuration, "timeout", 10*time.Minute, "stop sending after this long")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	n, err := config.ParseSize(*size)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate-bench send: -size:", err)
		return 2
	}
	o.Size = int(n)
	if o.TLS == "none" {
		o.TLS = ""
	}
	o.To = strings.Split(*to, ",")
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			fmt.Fprintln(stderr, "mailgate-bench send:", err)
			return 1
		}
		o.Password = strings.TrimRight(string(b), "\r\n")
	}
	o.Progress = terminal(stderr)
	res, err := loadgen.Send(o)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate-bench send:", err)
		return 1
	}
	printResult(stdout, res, *asJSON, "messages")
	if res.Failed > 0 {
		return 1
	}
	return 0
}

func benchSink(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailgate-bench sink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.SinkOptions
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:2526", "listen address (loopback)")
	fs.Int64Var(&o.MaxMessages, "n", 0, "stop after this many messages (0: only the timeout)")
	fs.DurationVar(&o.MaxDuration, "timeout", 10*time.Minute, "stop after this long")
	fs.StringVar(&o.SaveDir, "save", "", "save every message into this directory")
	dkimDNS := fs.String("dkim-dns", "", "verify DKIM signatures, looking keys up at this DNS server (host:port)")
	fs.StringVar(&o.StatusAddr, "status", "", "serve GET /stats and POST /reset here (loopback host:port)")
	asJSON := fs.Bool("json", false, "print the counts as JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	if *dkimDNS != "" {
		r := resolver.New(*dkimDNS)
		o.LookupTXT = func(name string) ([]string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return r.LookupTXT(ctx, name)
		}
	}
	s, err := loadgen.StartSink(o)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate-bench sink:", err)
		return 1
	}
	fmt.Fprintf(stderr, "sink listening on %s\n", s.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-s.Done():
	case <-sig:
		s.Close()
	}
	st := s.Stats()
	if *asJSON {
		json.NewEncoder(stdout).Encode(st)
		return 0
	}
	secs := float64(st.LastNs-st.FirstNs) / 1e9
	fmt.Fprintf(stdout, "received %d messages, %d bytes", st.Messages, st.Bytes)
	if secs > 0 {
		fmt.Fprintf(stdout, ", %.0f/s between the first and the last", float64(st.Messages-1)/secs)
	}
	fmt.Fprintln(stdout)
	for k, v := range st.DKIM {
		fmt.Fprintf(stdout, "dkim %s: %d\n", k, v)
	}
	return 0
}

// printResult writes a run's figures for people, or as JSON.
func printResult(w io.Writer, r loadgen.Result, asJSON bool, unit string) {
	if asJSON {
		json.NewEncoder(w).Encode(r)
		return
	}
	fmt.Fprintf(w, "%d %s in %.2fs: %.1f/s, %d failed\n", r.Sent, unit, r.Seconds, r.PerSecond, r.Failed)
	l := r.Latency
	if l.Count > 0 {
		fmt.Fprintf(w, "latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", l.P50, l.P90, l.P99, l.Max)
	}
	ops := make([]string, 0, len(r.Ops))
	for op := range r.Ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		l := r.Ops[op]
		fmt.Fprintf(w, "  %-10s %7d  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms\n", op, l.Count, l.P50, l.P90, l.P99, l.Max)
	}
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "errors %s: %d\n", c, r.Errors[c])
	}
}

// terminal returns w when it is a terminal, for the live progress line.
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

func benchIMAP(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailgate-bench imap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.IMAPOptions
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:2143", "server address (loopback)")
	fs.StringVar(&o.TLS, "tls", "none", "none, starttls or implicit")
	users := fs.String("users", "", `file with one "address password" line per account`)
	fs.IntVar(&o.Clients, "clients", 10, "concurrent IMAP sessions, spread over the accounts")
	fs.IntVar(&o.Cycles, "cycles", 0, "cycles per client (0: until -duration)")
	fs.DurationVar(&o.MaxDuration, "duration", 30*time.Second, "run for this long at most")
	fs.IntVar(&o.Populate, "populate", 100, "first fill each INBOX up to this many messages (not timed)")
	size := fs.String("size", "4KB", "size of populated and appended messages")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if fs.Parse(args) != nil {
		return 2
	}
	n, err := config.ParseSize(*size)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate-bench imap: -size:", err)
		return 2
	}
	o.MessageSize = int(n)
	if o.TLS == "none" {
		o.TLS = ""
	}
	if o.Users, err = readCredentials(*users); err != nil {
		fmt.Fprintln(stderr, "mailgate-bench imap:", err)
		return 2
	}
	o.Progress = terminal(stderr)
	res, err := loadgen.IMAPLoad(o)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate-bench imap:", err)
		return 1
	}
	printResult(stdout, res, *asJSON, "operations")
	if res.Failed > 0 {
		return 1
	}
	return 0
}

func readCredentials(path string) ([]loadgen.Credential, error) {
	if path == "" {
		return nil, fmt.Errorf("-users FILE is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []loadgen.Credential
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 {
			out = append(out, loadgen.Credential{User: f[0], Password: f[1]})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no \"address password\" lines", path)
	}
	return out, nil
}
