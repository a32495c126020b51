package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"
	"time"

	"mailgate/arc"
	"mailgate/internal/mailmsg"
	"mailgate/srs"
)

// captureTransport records the requests it gets and delivers them all.
type captureTransport struct {
	mu   sync.Mutex
	reqs []*mailmsg.Attempt
}

func (c *captureTransport) Deliver(_ context.Context, req *mailmsg.Attempt) []mailmsg.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	res := make([]mailmsg.Result, len(req.Recipients))
	for i, r := range req.Recipients {
		res[i] = mailmsg.Result{Rcpt: r.Addr}
	}
	return res
}

type oneKey struct{}

func (oneKey) Secrets() [][]byte { return [][]byte{[]byte("0123456789abcdef")} }

// forwardRouter is a Router for fwd.test whose remote transport records.
func forwardRouter(t *testing.T, keep ...string) (*Router, *captureTransport) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	remote := &captureTransport{}
	sealer := &arc.Sealer{Domain: "fwd.test", Selector: "arc", Key: key, AuthServID: "mx.fwd.test"}
	return &Router{LocalDomains: []string{"fwd.test"}, Local: &captureTransport{}, Remote: remote,
		Forwarding: &Forwarding{
			SRS:        &srs.Rewriter{Keys: oneKey{}, Now: time.Now},
			Sealer:     func(d string) *arc.Sealer { return map[string]*arc.Sealer{"fwd.test": sealer}[d] },
			LookupTXT:  func(context.Context, string) ([]string, error) { return nil, nil },
			AuthServID: "mx.fwd.test",
			KeepSender: func(a string) bool { return strings.Contains(strings.Join(keep, ","), a) },
		}}, remote
}

const fwdBody = "Authentication-Results: mx.fwd.test; spf=pass smtp.mailfrom=a@origin.test\r\n" +
	"From: a@origin.test\r\nSubject: hi\r\n\r\nhello\r\n"

// TestRouterForwardedCopies: forwarded recipients go in one transaction
// per forward address with an SRS sender and an ARC set; a recipient
// given directly keeps the sender and the bytes; <>, a local sender and a
// keep_sender forward are not rewritten.
func TestRouterForwardedCopies(t *testing.T) {
	t.Parallel()
	r, remote := forwardRouter(t, "keep@fwd.test")
	r.Metrics = NewMetrics(nil)
	req := &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "q1", From: "a@origin.test"}, Body: []byte(fwdBody), Recipients: []mailmsg.Recipient{
		{Addr: "x@far.test", Orig: "list@fwd.test"}, {Addr: "y@far.test", Orig: "list@fwd.test"},
		{Addr: "z@far.test"}, {Addr: "w@far.test", Orig: "keep@fwd.test"}}}
	res := r.Deliver(context.Background(), req)
	for _, x := range res {
		if x.Err != nil {
			t.Fatal(x.Err)
		}
	}
	if len(remote.reqs) != 3 {
		t.Fatalf("%d transactions, want 3 (list@, direct, keep@)", len(remote.reqs))
	}
	list, direct, kept := remote.reqs[0], remote.reqs[1], remote.reqs[2]
	if len(list.Recipients) != 2 || !strings.HasPrefix(list.From, "SRS0=") || !strings.HasSuffix(list.From, "=origin.test=a@fwd.test") {
		t.Errorf("forwarded copy: from %q, %d recipients", list.From, len(list.Recipients))
	}
	if !bytes.HasPrefix(list.Body, []byte("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=fwd.test;")) ||
		!bytes.Contains(list.Body, []byte("ARC-Authentication-Results: i=1; mx.fwd.test;\r\n\tspf=pass smtp.mailfrom=a@origin.test\r\n")) {
		t.Errorf("forwarded copy lacks the ARC set:\n%s", list.Body)
	}
	if direct.From != "a@origin.test" || string(direct.Body) != fwdBody {
		t.Errorf("a direct recipient's copy changed: from %q\n%s", direct.From, direct.Body)
	}
	if kept.From != "a@origin.test" || !bytes.HasPrefix(kept.Body, []byte("ARC-Seal:")) {
		t.Errorf("keep_sender copy: from %q (want the original), ARC set %v", kept.From, bytes.HasPrefix(kept.Body, []byte("ARC-Seal:")))
	}
	if string(req.Body) != fwdBody || req.From != "a@origin.test" {
		t.Error("the queue's request was changed in place")
	}
	for _, c := range []struct{ srs, arc string }{{"rewritten", "sealed"}, {"kept", "sealed"}} {
		if n := counter(t, r.Metrics.forwarded.WithLabelValues(c.srs, c.arc)); n != 1 {
			t.Errorf("mailgate_delivery_forwarded_total{srs=%q,arc=%q} = %v, want 1", c.srs, c.arc, n)
		}
	}

	for _, from := range []string{"", "user@fwd.test"} {
		remote.reqs = nil
		r.Deliver(context.Background(), &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "q2", From: from}, Body: []byte(fwdBody),
			Recipients: []mailmsg.Recipient{{Addr: "x@far.test", Orig: "list@fwd.test"}}})
		if got := remote.reqs[0].From; got != from {
			t.Errorf("sender %q was rewritten to %q", from, got)
		}
	}
}
