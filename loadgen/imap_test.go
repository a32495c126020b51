package loadgen

import (
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// TestIMAPLoad runs the IMAP load against go-imap's in-memory server over
// loopback: every command of the cycle must succeed and be counted, and
// the appended-then-expunged messages must not pile up in INBOX.
func TestIMAPLoad(t *testing.T) {
	t.Parallel()
	mem := imapmemserver.New()
	for _, u := range []string{"a@localhost", "b@localhost"} {
		user := imapmemserver.NewUser(u, "pw")
		if err := user.Create("INBOX", nil); err != nil {
			t.Fatal(err)
		}
		mem.AddUser(user)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	users := []Credential{{"a@localhost", "pw"}, {"b@localhost", "pw"}}
	res, err := IMAPLoad(IMAPOptions{Addr: ln.Addr().String(), Users: users, Clients: 4, Cycles: 3,
		MaxDuration: time.Minute, Populate: 10, MessageSize: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 {
		t.Fatalf("%d failed operations: %v", res.Failed, res.Errors)
	}
	for _, op := range []string{"fetch_hdr", "fetch_body", "store", "search", "append", "expunge"} {
		if got := res.Ops[op].Count; got != 4*3 {
			t.Errorf("%s ran %d times, want 12 (4 clients x 3 cycles)", op, got)
		}
	}
	if res.Ops["login"].Count != 4 || res.PerSecond <= 0 {
		t.Errorf("login count %d, %f ops/s", res.Ops["login"].Count, res.PerSecond)
	}
	// The messages appended during the load were expunged again.
	c, err := dialIMAP(&IMAPOptions{Addr: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("a@localhost", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 10 {
		t.Fatalf("INBOX holds %v messages (%v), want the 10 populated", sel, err)
	}
}
