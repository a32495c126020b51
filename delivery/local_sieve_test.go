package delivery

import (
	"context"
	"errors"
	"testing"

	"mailgate/internal/mailmsg"
)

// fakeSieve records what it was handed, and rejects for "no@".
type fakeSieve struct{ got []*LocalMessage }

func (f *fakeSieve) Deliver(_ context.Context, m *LocalMessage) error {
	f.got = append(f.got, m)
	if m.Rcpt == "no@example.com" {
		return Rejected("rejected by the recipient's filter: go away", nil)
	}
	return nil
}

// TestLocalSieveHook: local delivery hands each recipient's copy to the
// Sieve filter with its account, folder and queue ID; a quarantined
// message bypasses it into Junk; a rejection is a permanent 5.7.1.
func TestLocalSieveHook(t *testing.T) {
	store := &memStore{msgs: map[string][]string{}}
	sv := &fakeSieve{}
	l := &Local{Mailboxes: store, Sieve: sv, Directory: mapDir{
		"a+tag@example.com": {"a@example.com", "tag"}, "no@example.com": {"no@example.com", ""}}}
	res := l.Deliver(context.Background(), &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "Q1", From: "s@example.org"}, Body: []byte("Subject: x\n\nhi\n"),
		Recipients: []mailmsg.Recipient{{Addr: "a+tag@example.com"}, {Addr: "no@example.com"}}})
	if res[0].Err != nil || len(sv.got) != 2 {
		t.Fatalf("results %+v, sieve got %d", res, len(sv.got))
	}
	m := sv.got[0]
	if m.QueueID != "Q1" || m.From != "s@example.org" || m.Rcpt != "a+tag@example.com" || m.Account != "a@example.com" ||
		m.Folder != "tag" || string(m.Body) != "Subject: x\r\n\r\nhi\r\n" {
		t.Errorf("sieve got %+v", m)
	}
	var de *mailmsg.Error
	if !errors.As(res[1].Err, &de) || !de.Permanent || de.Enhanced != "5.7.1" || de.Reason != "rejected by the recipient's filter: go away" {
		t.Errorf("reject: %#v", res[1].Err)
	}
	sv.got = nil
	res = l.Deliver(context.Background(), &mailmsg.Attempt{Envelope: &mailmsg.Envelope{ID: "Q2", Quarantine: true}, Body: []byte("x\r\n"),
		Recipients: []mailmsg.Recipient{{Addr: "a+tag@example.com"}}})
	if res[0].Err != nil || len(sv.got) != 0 || len(store.msgs["a@example.com/Junk"]) != 1 {
		t.Errorf("quarantine: err %v, sieve got %d, junk %d", res[0].Err, len(sv.got), len(store.msgs["a@example.com/Junk"]))
	}
}
