package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"mailgate/delivery"
	"mailgate/internal/dnstest"
	"mailgate/internal/mailmsg"
	"mailgate/internal/smtptest"
	"mailgate/resolver"
)

// world is a queue delivering over real SMTP to an smtptest server that is
// the MX of remote.test and origin.test, found through a loopback DNS server.
type world struct {
	t      *testing.T
	dir    string
	remote *smtptest.Server
	dns    *dnstest.Server
	clock  *fakeClock
	delay  time.Duration // queue.delay_warning
	q      *Queue
	tr     *delivery.Remote
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newWorld(t *testing.T, cfg smtptest.Config) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), clock: &fakeClock{now: time.Now()}}
	w.remote = smtptest.Start(t, cfg)
	w.dns = dnstest.Start(t,
		"remote.test. 60 IN MX 10 mx.remote.test.",
		"origin.test. 60 IN MX 10 mx.remote.test.",
		"mx.remote.test. 60 IN A 127.0.0.1",
	)
	w.tr = &delivery.Remote{Resolver: resolver.New(w.dns.Addr), Hostname: "mailgate.test", Port: w.remote.Port()}
	t.Cleanup(w.tr.Close)
	w.open()
	return w
}

func (w *world) open() {
	w.t.Helper()
	q, err := Open(Options{
		Dir: w.dir, Deliverer: w.tr, Hostname: "mailgate.test",
		FirstRetry: time.Hour, MaxRetryInterval: 4 * time.Hour, MaxAge: 48 * time.Hour,
		DelayWarning: w.delay, Now: w.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	q.settled = make(chan string, 100)
	q.Start()
	w.q = q
	w.t.Cleanup(q.Close)
}

func (w *world) restart() {
	w.q.Close()
	w.open()
}

// send queues a message and returns its ID.
func (w *world) send(from string, rcpts ...string) string {
	w.t.Helper()
	env := &mailmsg.Envelope{ID: mailmsg.NewID(w.clock.Now()), From: from, Received: w.clock.Now()}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, mailmsg.Recipient{Addr: r})
	}
	raw := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: test %s\r\nMessage-ID: <%s@mailgate.test>\r\n\r\nHello.\r\n", from, rcpts[0], env.ID, env.ID)
	if err := w.q.Enqueue(context.Background(), env, []byte(raw)); err != nil {
		w.t.Fatal(err)
	}
	return env.ID
}

// settle waits for the attempt results of message id.
func (w *world) settle(id string) {
	w.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-w.q.settled:
			if got == id {
				return
			}
		case <-timeout:
			w.t.Fatalf("no delivery attempt for %s within 30s", id)
		}
	}
}

func (w *world) state(id string) MessageInfo {
	w.t.Helper()
	mi, err := w.q.Show(id)
	if err != nil {
		w.t.Fatalf("Show(%s): %v", id, err)
	}
	return mi
}

func TestDeliveredMessageLeavesTheQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{})
	id := w.send("alice@origin.test", "bob@remote.test", "carol@remote.test")
	w.settle(id)
	msgs := w.remote.WaitMessages(t, 1, 10*time.Second)
	if got := strings.Join(msgs[0].Rcpts, ","); got != "bob@remote.test,carol@remote.test" {
		t.Fatalf("remote got recipients %s; want both in one transaction", got)
	}
	if !strings.Contains(string(msgs[0].Raw), "Subject: test "+id) {
		t.Fatalf("remote got %q", msgs[0].Raw)
	}
	if _, err := w.q.Show(id); err != ErrNotFound {
		t.Fatalf("delivered message still queued: %v", err)
	}
	w.q.Close() // waits for the remover's batch
	for _, suf := range []string{msgSuffix, stateSuffix} {
		if _, err := os.Stat(filepath.Join(w.dir, id+suf)); !os.IsNotExist(err) {
			t.Fatalf("spool file %s%s of a delivered message was not removed: %v", id, suf, err)
		}
	}
}

func TestDeferredThenFlushed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"bob@remote.test": {"451 4.7.1 Greylisted, come back later", "250 2.1.5 OK"},
	}})
	id := w.send("alice@origin.test", "bob@remote.test")
	w.settle(id)
	r := w.state(id).Recipients[0]
	if r.State != StateDeferred || r.Attempts != 1 || r.LastError != "451 4.7.1 Greylisted, come back later" {
		t.Fatalf("after a 451: %+v", r)
	}
	if wait := r.NextAttempt.Sub(w.clock.Now()); wait < 50*time.Minute || wait > 70*time.Minute {
		t.Fatalf("next attempt in %v; want first_retry (1h) with jitter", wait)
	}
	if n, err := w.q.Flush("", "remote.test"); n != 1 || err != nil {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	w.settle(id)
	if _, err := w.q.Show(id); err != ErrNotFound {
		t.Fatalf("message still queued after a successful retry: %v", err)
	}
	w.remote.WaitMessages(t, 1, 10*time.Second)
}

func TestPermanentFailureBouncesToSender(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"nobody@remote.test": {"550 5.1.1 <nobody@remote.test>: user unknown"},
	}})
	id := w.send("alice@origin.test", "nobody@remote.test", "bob@remote.test")
	w.settle(id)
	msgs := w.remote.WaitMessages(t, 2, 10*time.Second) // the message to bob, then the bounce
	var dsn *smtptest.Message
	for i := range msgs {
		if msgs[i].From == "" {
			dsn = &msgs[i]
		}
	}
	if dsn == nil || len(dsn.Rcpts) != 1 || dsn.Rcpts[0] != "alice@origin.test" {
		t.Fatalf("no bounce from <> to alice@origin.test among %+v", msgs)
	}
	report := reportFields(t, dsn.Raw)
	for _, want := range []string{
		"Final-Recipient: rfc822; nobody@remote.test",
		"Action: failed",
		"Status: 5.1.1",
		"Remote-MTA: dns; mx.remote.test",
		"Diagnostic-Code: smtp; 550 5.1.1 <nobody@remote.test>: user unknown",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("delivery-status lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "bob@remote.test") {
		t.Errorf("the bounce reports the delivered recipient too:\n%s", report)
	}
}

// reportFields returns the message/delivery-status part of a DSN.
func reportFields(t *testing.T, raw []byte) string {
	t.Helper()
	text := strings.ReplaceAll(string(raw), "\r\n..", "\r\n.") // undo dot-stuffing
	mr, err := mail.CreateReader(strings.NewReader(text))
	if err != nil {
		t.Fatalf("bounce does not parse: %v", err)
	}
	if ct := mr.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/report") || !strings.Contains(ct, "delivery-status") {
		t.Fatalf("bounce Content-Type = %q", ct)
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no message/delivery-status part: %v", err)
		}
		if ct, _, _ := p.Header.(interface {
			ContentType() (string, map[string]string, error)
		}).ContentType(); ct == "message/delivery-status" {
			b, _ := io.ReadAll(p.Body)
			return string(b)
		}
	}
}

func TestBounceIsNeverBounced(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"nobody@remote.test": {"550 5.1.1 user unknown"},
	}})
	id := w.send("", "nobody@remote.test")
	w.settle(id)
	if _, err := w.q.Show(id); err != ErrNotFound {
		t.Fatalf("bounced message still queued: %v", err)
	}
	if l := w.q.List(); len(l) != 0 {
		t.Fatalf("a report was queued for a message from <>: %+v", l)
	}
}

func TestRestartRetriesDeferredButNotDelivered(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"later@remote.test": {"452 4.2.2 Mailbox full", "250 2.1.5 OK"},
	}})
	id := w.send("alice@origin.test", "now@remote.test", "later@remote.test")
	w.settle(id)
	mi := w.state(id)
	if mi.Recipients[0].State != StateDelivered || mi.Recipients[1].State != StateDeferred {
		t.Fatalf("states before restart: %+v", mi.Recipients)
	}
	w.restart()
	mi = w.state(id)
	if mi.Recipients[0].State != StateDelivered || mi.Recipients[1].State != StateDeferred || mi.Recipients[1].Attempts != 1 {
		t.Fatalf("states after restart: %+v", mi.Recipients)
	}
	w.q.Flush(id, "")
	w.settle(id)
	msgs := w.remote.WaitMessages(t, 2, 10*time.Second)
	count := map[string]int{}
	for _, m := range msgs {
		for _, r := range m.Rcpts {
			count[r]++
		}
	}
	if count["now@remote.test"] != 1 || count["later@remote.test"] != 1 {
		t.Fatalf("deliveries per recipient = %v; want exactly one each", count)
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"slow@remote.test": {"421 4.3.2 Try again later"},
	}})
	id := w.send("alice@origin.test", "slow@remote.test")
	w.settle(id)
	w.clock.Advance(49 * time.Hour)
	w.q.Flush(id, "")
	w.settle(id)
	if _, err := w.q.Show(id); err != ErrNotFound {
		t.Fatalf("message still queued after max_age: %v", err)
	}
	var bounce *smtptest.Message
	for _, m := range w.remote.WaitMessages(t, 1, 10*time.Second) {
		if m.From == "" {
			bounce = &m
		}
	}
	if bounce == nil {
		t.Fatal("no bounce after max_age")
	}
	if report := reportFields(t, bounce.Raw); !strings.Contains(report, "Action: failed") || !strings.Contains(report, "gave up after 48h0m0s") {
		t.Fatalf("report:\n%s", report)
	}
}

func TestHoldAndRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"bob@remote.test": {"451 4.3.0 later", "250 2.1.5 OK"},
	}})
	id := w.send("alice@origin.test", "bob@remote.test")
	w.settle(id)
	if err := w.q.Hold(id); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.q.Flush("", ""); n != 0 {
		t.Fatalf("flush touched %d recipients of a held message", n)
	}
	if st := w.state(id).Recipients[0].State; st != StateHeld {
		t.Fatalf("state = %s, want held", st)
	}
	w.restart() // held survives a restart
	if !w.state(id).Held {
		t.Fatal("hold lost in restart")
	}
	if err := w.q.Release(id); err != nil {
		t.Fatal(err)
	}
	w.settle(id)
	w.remote.WaitMessages(t, 1, 10*time.Second)
	if err := w.q.Delete("0000000000000000000"); err != ErrNotFound {
		t.Fatalf("Delete(unknown) = %v", err)
	}
}

func TestDelayWarningSentOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"slow@remote.test": {"451 4.4.1 No answer from host"},
	}})
	w.delay = 4 * time.Hour
	w.restart()
	id := w.send("alice@origin.test", "slow@remote.test")
	w.settle(id)
	w.clock.Advance(5 * time.Hour)
	w.q.Flush(id, "")
	w.settle(id)
	msgs := w.remote.WaitMessages(t, 1, 10*time.Second)
	if msgs[0].From != "" || msgs[0].Rcpts[0] != "alice@origin.test" {
		t.Fatalf("delay warning went to %v from %q", msgs[0].Rcpts, msgs[0].From)
	}
	report := reportFields(t, msgs[0].Raw)
	for _, want := range []string{"Action: delayed", "Status: 4.4.1", "Will-Retry-Until:"} {
		if !strings.Contains(report, want) {
			t.Errorf("delay report lacks %q:\n%s", want, report)
		}
	}
	if mi := w.state(id); mi.Recipients[0].State != StateDeferred {
		t.Fatalf("after the warning the recipient is %s, want still deferred", mi.Recipients[0].State)
	}
	// The report itself is delivered and leaves; a second deferral sends none.
	select {
	case got := <-w.q.settled:
		if got == id {
			t.Fatalf("unexpected attempt of %s", id)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the delay report was not delivered")
	}
	w.q.Flush(id, "")
	w.settle(id)
	if n := len(w.remote.Messages()); n != 1 {
		t.Fatalf("%d messages at the remote; want the single delay warning", n)
	}
}

func TestNotifyParameters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"gone@remote.test": {"550 5.1.1 user unknown"},
	}})
	env := &mailmsg.Envelope{ID: mailmsg.NewID(w.clock.Now()), From: "alice@origin.test", Received: w.clock.Now(), Ret: "FULL",
		Recipients: []mailmsg.Recipient{
			{Addr: "gone@remote.test", Notify: []string{"NEVER"}},
			{Addr: "ok@remote.test", Notify: []string{"SUCCESS"}, ORCPT: "rfc822;OK@remote.test"},
		}}
	raw := "From: <alice@origin.test>\r\nSubject: notify\r\n\r\nbody line\r\n"
	if err := w.q.Enqueue(context.Background(), env, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	w.settle(env.ID)
	msgs := w.remote.WaitMessages(t, 2, 10*time.Second)
	var reports []smtptest.Message
	for _, m := range msgs {
		if m.From == "" {
			reports = append(reports, m)
		}
	}
	if len(reports) != 1 {
		t.Fatalf("%d reports; want only the success report (NOTIFY=NEVER for the failure)", len(reports))
	}
	report := reportFields(t, reports[0].Raw)
	// The remote does not offer DSN: the report says the message was
	// relayed, not delivered (RFC 3461 section 6.2.1).
	for _, want := range []string{"Action: relayed", "Final-Recipient: rfc822; ok@remote.test", "Original-Recipient: rfc822; OK@remote.test"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "gone@remote.test") {
		t.Errorf("NEVER recipient reported:\n%s", report)
	}
	if !strings.Contains(string(reports[0].Raw), "body line") {
		t.Error("RET=FULL report does not carry the whole message")
	}
}

// TestGivesUpAtWillRetryUntil: the retry after the last one before the
// give-up time is not a whole backoff later but at that time (arrival +
// max_age), which is the Will-Retry-Until the delay warning stated; the
// bounce then says Status 5.4.7 (delivery time expired, RFC 3463), not
// the generic 5.0.0.
func TestGivesUpAtWillRetryUntil(t *testing.T) {
	t.Parallel()
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{
		"slow@remote.test": {"421 4.4.2 Try again later"},
	}})
	w.delay = 4 * time.Hour
	w.restart()
	id := w.send("alice@origin.test", "slow@remote.test")
	w.settle(id)
	w.clock.Advance(47*time.Hour + 30*time.Minute)
	w.q.Flush(id, "")
	w.settle(id)
	mi := w.state(id)
	end := mi.Received.Add(48 * time.Hour)
	if next := mi.Recipients[0].NextAttempt; !next.Equal(end) {
		t.Errorf("next attempt at %v after arrival, want at max_age %v", next.Sub(mi.Received), end.Sub(mi.Received))
	}
	warning := reportFields(t, w.remote.WaitMessages(t, 1, 10*time.Second)[0].Raw)
	if want := "Will-Retry-Until: " + end.Format(time.RFC1123Z); !strings.Contains(warning, want) {
		t.Errorf("delay warning lacks %q:\n%s", want, warning)
	}
	w.clock.Advance(30 * time.Minute)
	w.q.Flush(id, "")
	w.settle(id)
	msgs := w.remote.WaitMessages(t, 2, 10*time.Second)
	report := reportFields(t, msgs[1].Raw)
	for _, want := range []string{"Action: failed", "Status: 5.4.7", "gave up after 48h0m0s", "421 4.4.2 Try again later"} {
		if !strings.Contains(report, want) {
			t.Errorf("bounce lacks %q:\n%s", want, report)
		}
	}
}

// TestSelectUsesTheIndex: listings filter by domain (any case, trailing
// dot), state and age, and follow the index as recipients change state.
func TestSelectUsesTheIndex(t *testing.T) {
	w := newWorld(t, smtptest.Config{RcptReplies: map[string][]string{"later@remote.test": {"451 4.7.1 later"}}})
	id := w.send("a@origin.test", "later@remote.test", "ok@remote.test")
	w.settle(id)
	w.clock.Advance(2 * time.Hour)
	id2 := w.send("b@origin.test", "x@origin.test")
	w.settle(id2)
	if err := w.q.Hold(id2); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	ids := func(f Filter) []string {
		var out []string
		for _, mi := range w.q.Select(f) {
			out = append(out, mi.ID)
		}
		return out
	}
	for _, c := range []struct {
		f    Filter
		want []string
	}{
		{Filter{Domain: "remote.test"}, []string{id}},
		{Filter{Domain: "Remote.TEST."}, []string{id}},
		{Filter{Domain: "remote.test", State: StateDelivered}, []string{id}},
		{Filter{Domain: "remote.test", State: StatePending}, nil},
		{Filter{State: StateDeferred}, []string{id}},
		{Filter{OlderThan: time.Hour}, []string{id}},
		{Filter{Domain: "nowhere.test"}, nil},
	} {
		if got := ids(c.f); !slices.Equal(got, c.want) {
			t.Errorf("Select(%+v) = %v, want %v", c.f, got, c.want)
		}
	}
	if got := len(w.q.List()); got < 1 {
		t.Errorf("List: %d messages", got)
	}
}
