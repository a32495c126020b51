package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// The promise suite: every reply the README promises a client, every
// filter's documented reply, every send_as rule and rate limit, each as a
// row that runs the real binary and real clients (Python's smtplib and
// swaks), logged in over STARTTLS (587) and implicit TLS (465) as an
// application would, or over MX without login. A row states the exact
// reply line and where the message arrived: bob's mailbox, the remote
// sink, or nowhere at all. A README promise without a row here is a bug
// (TESTING.md); TestPromiseSuiteCoversREADME checks the README's reply
// tables against the rows.

// promise is one row.
type promise struct {
	name string
	// clients run the row, each on its own connection: smtplib/starttls,
	// smtplib/implicit, swaks/starttls, swaks/implicit (logged in as
	// user) or smtplib/mx (port 25 style, no login). Default: the four
	// logged-in ones with user, else smtplib/mx.
	clients []string
	user    string // log in as this account ("" for none)
	src     string // client address, 127.0.0.1 if empty
	from    string // MAIL FROM
	to      []string
	// header is the header above Subject; default From: <from>, To, Date
	// and Message-ID.
	header string
	// steps replace MAIL, RCPT and DATA (smtplib only); %MSG% in a data
	// step is the message.
	steps [][]string
	// messages and repeat send the steps this many times on each
	// connection, and make this many connections one after the other;
	// srcs makes one connection from each of these addresses.
	messages, repeat int
	srcs             []string
	// want is the exact reply line to the last command; "queued" is
	// "250 2.0.0 OK: queued as <id>".
	want string
	// queued is how many messages were accepted before it (0: none, and
	// none may be found anywhere unless arrives says where).
	queued  int
	arrives string // "bob", "sink", or "" for nowhere
	check   func(t *testing.T, e *promiseEnv, stored, marker string)
}

var queuedLineRE = regexp.MustCompile(`^250 2\.0\.0 OK: queued as [0-9a-f]{19}$`)

const fullHeader = "From: App <%s>\r\nTo: %s\r\nDate: Fri, 04 Dec 2026 18:00:00 +0000\r\nMessage-ID: <%s@mg.test>\r\n"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// refused is the sender_policy reply for a foreign address.
func refused(where, addr string) string {
	return "553 5.7.1 " + where + " <" + addr + "> is not an address of app@mg.test; use your own address, an alias or a send-as address"
}

// clientRows: what every client is told (README "What clients are told").
var clientRows = []promise{
	{name: "relay denied without AUTH", from: "x@remote.example", to: []string{pRemote},
		want: "550 5.7.1 Relaying denied: this server only accepts mail for its own domains; authenticate on the submission port to send elsewhere"},
	{name: "unknown local recipient", from: "x@remote.example", to: []string{"nobody@mg.test"},
		want: "550 5.1.1 No such user here; check the recipient address"},
	{name: "MAIL before AUTH", clients: []string{"smtplib/starttls", "smtplib/implicit"}, from: pApp,
		want: "530 5.7.0 Authentication required; log in with AUTH before MAIL FROM"},
	{name: "AUTH before TLS", clients: []string{"smtplib/plain"}, src: "127.0.0.21",
		steps: [][]string{{"cmd", "AUTH PLAIN " + b64("\x00"+pApp+"\x00"+pPassword)}},
		want:  "538 5.7.11 Encryption required for requested authentication mechanism; use STARTTLS first"},
	{name: "wrong password", clients: []string{"smtplib/starttls", "smtplib/implicit"}, src: "127.0.0.22",
		steps: [][]string{{"cmd", "AUTH PLAIN " + b64("\x00"+pApp+"\x00wrong")}},
		want:  "535 5.7.8 Authentication credentials invalid"},
	{name: "AUTH response not base64", clients: []string{"smtplib/starttls", "smtplib/implicit"}, src: "127.0.0.24",
		steps: [][]string{{"cmd", "AUTH PLAIN !!!not-base64"}},
		want:  "501 5.5.2 Invalid base64 data; send the SASL response base64-encoded (RFC 4954 section 4)"},
	{name: "too many failed logins", clients: []string{"smtplib/starttls"}, src: "127.0.0.23",
		steps: repeat([]string{"cmd", "AUTH PLAIN " + b64("\x00"+pApp+"\x00wrong")}, 6),
		want:  "454 4.7.0 Too many failed logins from your address or for this account; try again later"},
	{name: "message too big", user: pApp, clients: []string{"smtplib/starttls", "smtplib/implicit"}, from: pApp,
		steps: [][]string{{"mail", pApp}, {"rcpt", pBob}, {"data", "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 998)+"\r\n", 70)}},
		want:  "552 5.3.4 Maximum message size exceeded"},
	{name: "too many recipients", user: pApp, clients: []string{"smtplib/starttls"},
		steps: append([][]string{{"mail", pApp}}, repeat([]string{"rcpt", pBob}, 101)...),
		want:  "452 4.5.3 Maximum limit of 100 recipients reached"},
	{name: "bare LF in the message", user: pApp, clients: []string{"smtplib/starttls", "smtplib/implicit"},
		steps: [][]string{{"mail", pApp}, {"rcpt", pBob}, {"cmd", "DATA"}, {"raw", "Subject: smuggle\r\n\r\nbare\nLF\r\n.\r\n"}},
		want:  "550 5.5.2 Message contains a bare CR or LF; end every line with CRLF (RFC 5321 section 2.3.8)"},
	{name: "mail loop", from: "x@remote.example", to: []string{pBob},
		header: strings.Repeat("Received: from a.example by b.example; Fri, 04 Dec 2026 17:00:00 +0000\r\n", 50) +
			"From: x@remote.example\r\nTo: " + pBob + "\r\n",
		want: "554 5.4.6 Routing loop detected: the message already carries 50 Received fields and 50 is the limit; " +
			"check the forwarding between the servers it passed"},
	{name: "mailbox full at RCPT", from: "x@remote.example", to: []string{pFull},
		steps: [][]string{{"mail", "x@remote.example"}, {"rcpt", pFull}},
		want:  "452 4.2.2 Mailbox of <full@mg.test> is full; try again later"},
	{name: "message larger than the whole quota", from: "x@remote.example", to: []string{pSmall},
		want: "552 5.2.2 Message too large for the mailbox of <small@mg.test>: 599 bytes, and the whole mailbox holds 300; send a smaller message"},
}

// provedElsewhere are README replies that need a broken machine (or a
// change made in the middle of a session), each with the test that
// proves it through the binary.
var provedElsewhere = map[string]string{
	"452 4.3.1 Insufficient system storage;": "faults/diskfull_test.go",
	"451 4.3.0 Internal error; try":          "relay/reject_test.go (spool gone)",
	"530 5.7.0 Authentication required: the": "e2e/logincache_test.go TestOpenSessionStopsWhenAccountDisabled (an account changed mid-session)",
}

func repeat(step []string, n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = step
	}
	return out
}

// senderRows: sender_policy, send_as and the repairs of submitted mail,
// on every submission path; spf and dmarc do not check logged-in mail
// (mg.test's own records refuse everything).
var senderRows = []promise{
	{name: "own address", user: pApp, from: pApp, want: "queued", arrives: "bob", check: signedAndSeen},
	{name: "own address to a remote domain", user: pApp, from: pApp, to: []string{pRemote}, want: "queued", arrives: "sink", check: signedAndSeen},
	{name: "alias", user: pApp, from: "billing@mg.test", want: "queued", arrives: "bob"},
	{name: "send_as address", user: pApp, from: "noreply@brand.example", want: "queued", arrives: "bob"},
	{name: "send_as domain", user: pApp, from: "anyone@news.example", want: "queued", arrives: "bob"},
	{name: "send_as domain in capitals", user: pApp, from: "Anyone@NEWS.Example", want: "queued", arrives: "bob"},
	{name: "longer domain ending in a send_as domain", user: pApp, from: "x@news.example.evil", want: refused("MAIL FROM", "x@news.example.evil")},
	{name: "subdomain of a send_as domain", user: pApp, from: "x@sub.news.example", want: refused("MAIL FROM", "x@sub.news.example")},
	{name: "another local account", user: pApp, from: pBob, want: refused("MAIL FROM", pBob)},
	{name: "a foreign domain", user: pApp, from: "boss@bigbank.example", want: refused("MAIL FROM", "boss@bigbank.example")},
	{name: "null sender", user: pApp, clients: []string{"smtplib/starttls", "smtplib/implicit"}, from: "",
		want: "553 5.7.1 MAIL FROM <> is not allowed after login; use your own address, an alias or a send-as address"},
	{name: "foreign header From", user: pApp, from: pApp, header: "From: Bob <bob@mg.test>\r\n", want: refused("header From", pBob)},
	{name: "foreign header From in capitals", user: pApp, from: pApp, header: "FROM: bob@mg.test\r\n", want: refused("header From", pBob)},
	{name: "second From address foreign", user: pApp, from: pApp, header: "From: app@mg.test, boss@bigbank.example\r\n",
		want: refused("header From", "boss@bigbank.example")},
	{name: "foreign address in the display name only", user: pApp, from: pApp, header: "From: \"bob@mg.test\" <app@mg.test>\r\n",
		want: "queued", arrives: "bob"},
	{name: "foreign Sender", user: pApp, from: pApp, header: "From: app@mg.test\r\nSender: boss@bigbank.example\r\n",
		want: refused("header Sender", "boss@bigbank.example")},
	{name: "two Sender fields", user: pApp, clients: []string{"smtplib/starttls", "swaks/implicit"}, from: pApp,
		header: "From: app@mg.test\r\nSender: app@mg.test\r\nSender: billing@mg.test\r\n",
		want:   "550 5.6.0 The message may have one Sender header field at most (RFC 5322 section 3.6.2)"},
	{name: "two From fields", user: pApp, from: pApp, header: "From: app@mg.test\r\nFrom: bob@mg.test\r\n",
		want: "550 5.6.0 The message needs exactly one From header field, with your address"},
	{name: "no From field", user: pApp, from: pApp, header: "To: bob@mg.test\r\n",
		want: "550 5.6.0 The message needs exactly one From header field, with your address"},
	{name: "From does not parse", user: pApp, from: pApp, header: "From: <<app@mg.test\r\n",
		want: "550 5.6.0 The From header field does not parse (RFC 5322); write it as Name <you@example.com>"},
	{name: "From without an address", user: pApp, from: pApp, header: "From: undisclosed:;\r\n",
		want: "550 5.6.0 The From header field has no address; write it as Name <you@example.com>"},
	{name: "Date and Message-ID added", user: pApp, from: pApp, header: "From: App <app@mg.test>\r\n", want: "queued", arrives: "bob",
		check: func(t *testing.T, e *promiseEnv, stored, marker string) {
			if !regexp.MustCompile(`\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n`).MatchString(stored) ||
				!regexp.MustCompile(`\r\nMessage-ID: <[0-9a-f]{24}@localhost>\r\n`).MatchString(stored) {
				t.Errorf("no Date or Message-ID added:\n%s", stored)
			}
		}},
}

// signedAndSeen: a message the policy passed is DKIM-signed for mg.test,
// and the milter was told the account ({auth_authen}).
func signedAndSeen(t *testing.T, e *promiseEnv, stored, marker string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^DKIM-Signature: .*d=mg\.test;`).MatchString(regexp.MustCompile(`\r\n[ \t]+`).ReplaceAllString(stored, " ")) {
		t.Errorf("not signed for mg.test:\n%s", stored)
	}
	if a, ok := e.milter.account(marker); !ok || a != pApp {
		t.Errorf("milter saw {auth_authen} %q (%v), want %s", a, ok, pApp)
	}
}

// filterRows: every other filter's documented reply.
var filterRows = []promise{
	{name: "dnsbl listed", src: "127.0.0.50", from: "x@remote.example",
		want: "554 5.7.1 Service unavailable; client [127.0.0.50] listed by bl.mg.test: Listed for the promise suite"},
	{name: "spf fail", from: "x@spf-fail.example",
		want: "550 5.7.23 SPF fail: 127.0.0.1 is not allowed to send mail for spf-fail.example; send through a server listed in its SPF record"},
	{name: "spf temperror", from: "x@spf-temp.example",
		want: "451 4.7.24 SPF check of spf-temp.example failed with a temporary DNS error; try again later"},
	{name: "spf permerror", from: "x@spf-perm.example",
		want: "550 5.7.24 The SPF record of spf-perm.example is invalid (RFC 7208); its owner must fix it"},
	{name: "dkim_verify fail", from: "x@remote.example",
		header: "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=signer.example; s=t1; h=from:subject;\r\n" +
			"\tbh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=; b=AAAA\r\nFrom: x@signer.example\r\n",
		want: "550 5.7.1 Message refused by local policy"},
	{name: "dmarc fail_reject", from: "x@remote.example", header: "From: x@dmarc-reject.example\r\n",
		want: "550 5.7.1 DMARC policy of dmarc-reject.example refuses this message: neither SPF nor DKIM aligned with the From domain"},
	{name: "mx accepts for a local account", from: "x@remote.example", want: "queued", arrives: "bob"},
	{name: "milter reject", user: pApp, clients: []string{"smtplib/starttls"}, from: pApp,
		want: "550 5.7.1 Message refused by the content filter"},
	{name: "milter reject on mx", from: "x@remote.example", want: "550 5.7.1 Message refused by the content filter"},
	{name: "milter tempfail", user: pApp, clients: []string{"smtplib/starttls"}, from: pApp,
		want: "451 4.7.1 The content filter asks to try again later"},
	{name: "milter gtube", user: pApp, clients: []string{"smtplib/implicit"}, from: pApp, want: "554 5.7.1 Gtube pattern"},
	{name: "milter crash", user: pApp, clients: []string{"smtplib/starttls"}, from: pApp,
		want: "451 4.7.1 The message could not be scanned right now; try again later"},
}

// appRows: an application that logs in is held by its account's limit
// alone, which by default allows 100 messages a second: 70 connections
// from one address (connections_per_ip is 60 a minute), then 941 messages
// on one connection (1,011 in all: the old hourly defaults were 1,000 per
// account and 500 per address).
var appRows = []promise{
	{name: "one connection per message", user: pApp, clients: []string{"smtplib/starttls"}, src: "127.0.0.40", repeat: 70,
		from: pApp, to: []string{pRemote}, want: "queued", queued: 70, arrives: "sink"},
	{name: "many messages on one connection", user: pApp, clients: []string{"smtplib/implicit"}, src: "127.0.0.40", messages: 941,
		from: pApp, to: []string{pRemote}, want: "queued", queued: 941, arrives: "sink"},
}

// TestPromises runs every row on the production-like gateway with the
// default limits, then checks what /metrics says about sender_policy.
func TestPromises(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, "")
	for _, rows := range [][]promise{clientRows, senderRows, filterRows, appRows} {
		for _, p := range rows {
			runPromise(t, e, p)
		}
	}
	s := scrapeMetrics(t, e.srv)
	for r, act := range map[string]string{"pass": "accept", "forbidden": "reject"} {
		if v, _ := s.value("mailgate_filters_verdicts_total", "filter", "sender_policy", "result", r, "action", act); v < 1 {
			t.Errorf("sender_policy %s counted %v times", r, v)
		}
	}
}

// limitRows: each rate limit, on a gateway with small ones. Rows use
// their own client addresses so that budgets do not mix; logged-in rows
// to bob share mg.test's recipient-domain budget (12 messages).
var limitRows = []promise{
	{name: "per account (config)", user: "capped@mg.test", clients: []string{"smtplib/starttls"}, from: "capped@mg.test", messages: 4,
		want: "450 4.7.1 Rate limit reached: more than 3 messages from your account in 1h; try again later", queued: 3, arrives: "bob"},
	{name: "per account (accounts.yaml)", user: "own@mg.test", clients: []string{"smtplib/implicit"}, from: "own@mg.test", messages: 3,
		want: "450 4.7.1 Rate limit reached: more than 2 messages from your account in 1h; try again later", queued: 2, arrives: "bob"},
	{name: "per recipient domain, messages", user: pApp, clients: []string{"smtplib/starttls"}, from: pApp, to: []string{"x@few.example"}, messages: 13,
		want: "450 4.7.1 Rate limit reached: more than 12 messages to few.example in 1h; try again later", queued: 12},
	{name: "per recipient domain, recipients", user: pApp, clients: []string{"smtplib/starttls"}, from: pApp, to: addrs("many.example", 15),
		want: "450 4.7.1 Rate limit reached: more than 14 recipients at many.example in 1h; try again later"},
	{name: "per address without login", src: "127.0.0.31", from: "x@ip.example", messages: 4,
		want: "450 4.7.1 Rate limit reached: more than 3 messages from your address in 1h; try again later", queued: 3, arrives: "bob"},
	{name: "per sender domain without login", srcs: []string{"127.0.0.32", "127.0.0.33", "127.0.0.34", "127.0.0.35"}, from: "x@same.example",
		want: "450 4.7.1 Rate limit reached: more than 3 messages from sender domain same.example in 1h; try again later", queued: 3, arrives: "bob"},
	{name: "connections on mx", src: "127.0.0.36", repeat: 4, steps: [][]string{{"cmd", "NOOP"}},
		want: "421 4.7.0 Too many connections from your address (more than 3 in 1h); try again later"},
	{name: "connections without login on submission", clients: []string{"smtplib/starttls"}, src: "127.0.0.37", repeat: 4,
		steps: [][]string{{"cmd", "NOOP"}},
		want:  "421 4.7.0 Too many connections from your address (more than 3 in 1h); try again later"},
	{name: "connections that log in are not counted", user: pApp, clients: []string{"smtplib/implicit"}, src: "127.0.0.38", repeat: 5,
		from: pApp, want: "queued", queued: 5, arrives: "bob"},
}

// addrs makes n addresses at domain.
func addrs(domain string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%d@%s", i, domain)
	}
	return out
}

const smallLimits = "per_ip: {messages: 3, recipients: 100, period: 1h}, per_sender_domain: {messages: 3, recipients: 100, period: 1h}, " +
	"per_recipient_domain: {messages: 12, recipients: 14, period: 1h}, connections_per_ip: {count: 3, period: 1h}, " +
	"accounts: {capped@mg.test: {messages: 3, recipients: 100, period: 1h}}"

// TestPromisesRateLimits runs limitRows.
func TestPromisesRateLimits(t *testing.T) {
	t.Parallel()
	e := startPromiseEnv(t, smallLimits)
	for _, p := range limitRows {
		runPromise(t, e, p)
	}
}

// runPromise runs p once per client, as subtests.
func runPromise(t *testing.T, e *promiseEnv, p promise) {
	clients := p.clients
	if clients == nil && p.user != "" {
		// Both clients and both TLS modes, crossed, to keep the suite
		// within the package's time on a loaded machine.
		clients = []string{"smtplib/starttls", "swaks/implicit"}
	} else if clients == nil {
		clients = []string{"smtplib/mx"}
	}
	for _, client := range clients {
		t.Run(p.name+"/"+client, func(t *testing.T) {
			marker := "promise-" + strings.NewReplacer(" ", "-", "/", "-", "(", "", ")", "", ",", "").Replace(p.name+"-"+client)
			lines := e.send(t, p, client, marker)
			got, queued := last(lines), 0
			for _, l := range lines {
				if queuedLineRE.MatchString(l) {
					queued++
				}
			}
			if p.want == "queued" && !queuedLineRE.MatchString(got) || p.want != "queued" && got != p.want {
				t.Fatalf("reply %q\nwant    %q", got, p.want)
			}
			if want := max(p.queued, btoi(p.want == "queued")); queued != want {
				t.Errorf("%d messages accepted, want %d", queued, want)
			}
			if p.arrives == "" {
				for _, where := range []string{"bob", "sink", "spool"} {
					if m := e.find(where, marker); m != "" && p.queued == 0 {
						t.Errorf("refused, yet found in %s:\n%s", where, m)
					}
				}
				return
			}
			stored := e.arrived(t, p.arrives, marker, max(p.queued, 1))
			if p.check != nil {
				p.check(t, e, stored, marker)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// send runs the row with one client and returns every reply line.
func (e *promiseEnv) send(t *testing.T, p promise, client, marker string) []string {
	t.Helper()
	to := p.to
	if to == nil {
		to = []string{pBob}
	}
	header := p.header
	if header == "" {
		header = fmt.Sprintf(fullHeader, p.from, strings.Join(to, ", "), marker)
	}
	msg := header + "Subject: " + marker + "\r\n\r\nThe promise suite.\r\n"
	tool, mode, _ := strings.Cut(client, "/")
	if tool == "swaks" {
		return []string{e.runSwaks(t, mode, p.user, pUsers[p.user], p.from, to, msg)}
	}
	c := conversation{Mode: mode, Port: portOf(e.srv.Addr["submission"]), Src: p.src, User: p.user, Password: pUsers[p.user],
		Messages: p.messages, Repeat: p.repeat}
	switch mode {
	case "implicit":
		c.Port = portOf(e.srv.Addr["submissions"])
	case "mx":
		c.Mode, c.Port, c.User = "plain", portOf(e.srv.Addr["smtp"]), ""
	}
	c.Steps = p.steps
	if c.Steps == nil {
		c.Steps = [][]string{{"mail", p.from}}
		for _, r := range to {
			c.Steps = append(c.Steps, []string{"rcpt", r})
		}
		c.Steps = append(c.Steps, []string{"data", msg})
	}
	if p.srcs == nil {
		return e.smtplib(t, c)
	}
	var lines []string
	for _, src := range p.srcs {
		c.Src = src
		lines = append(lines, e.smtplib(t, c)...)
	}
	return lines
}

// last is the last reply line, not counting a hang-up after it.
func last(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != "(closed)" {
			return lines[i]
		}
	}
	return "(closed)"
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}

// readmeReplyRE finds the replies the README promises: a backticked
// "NNN X.Y.Z text" in a table row.
var readmeReplyRE = regexp.MustCompile("(?m)^\\|[^\\n]*`(\\d{3} \\d\\.\\d{1,3}\\.\\d{1,3} [^`]*)`")

// TestPromiseSuiteCoversREADME: every reply in a README table has a row
// here (same code, enhanced code and first two words) or a test named in
// provedElsewhere.
func TestPromiseSuiteCoversREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for k := range provedElsewhere {
		covered[replyKey(k)] = true
	}
	for _, rows := range [][]promise{clientRows, senderRows, filterRows, appRows, limitRows} {
		for _, p := range rows {
			covered[replyKey(p.want)] = true
		}
	}
	for _, m := range readmeReplyRE.FindAllStringSubmatch(string(readme), -1) {
		if !covered[replyKey(m[1])] {
			t.Errorf("README promises %q, and no row of the promise suite checks it", m[1])
		}
	}
}

// replyKey is a reply's code, enhanced code and first two words.
func replyKey(line string) string {
	f := strings.Fields(line)
	if len(f) > 4 {
		f = f[:4]
	}
	return strings.Join(f, " ")
}
