package loadgen

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Credential is one IMAP account of the load.
type Credential struct{ User, Password string }

// IMAPOptions describe an IMAP load: Clients sessions at once, spread over
// Users, each repeating a cycle of typical client commands.
type IMAPOptions struct {
	Addr        string
	TLS         string // "", "starttls" or "implicit"
	Users       []Credential
	Clients     int
	Cycles      int           // per client (0: until MaxDuration)
	MaxDuration time.Duration // 0: 1m
	// Populate fills each user's INBOX up to this many messages of
	// MessageSize before the timed run (not measured).
	Populate    int
	MessageSize int
	Progress    io.Writer
}

// IMAPLoad runs the load and reports operations per second (every IMAP
// command counts one) with per-command latency in Result.Ops.
func IMAPLoad(o IMAPOptions) (Result, error) {
	if err := checkLoopback(o.Addr); err != nil {
		return Result{}, err
	}
	if len(o.Users) == 0 || o.Clients <= 0 {
		return Result{}, errors.New("imap: need users and clients > 0")
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = time.Minute
	}
	if o.MessageSize <= 0 {
		o.MessageSize = 4096
	}
	body := messageBody(o.MessageSize)
	if o.Populate > 0 {
		for _, u := range o.Users {
			if err := populate(o, u, body); err != nil {
				return Result{}, fmt.Errorf("populate %s: %w", u.User, err)
			}
		}
	}
	rec := newRecorder()
	start := time.Now()
	deadline := start.Add(o.MaxDuration)
	stop := make(chan struct{})
	go progress(o.Progress, 0, rec, start, stop)
	var wg sync.WaitGroup
	for i := 0; i < o.Clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ic := &imapWorker{o: &o, cred: o.Users[i%len(o.Users)], rec: rec, body: body,
				rnd: rand.New(rand.NewPCG(uint64(i), 7))}
			ic.run(deadline)
		}()
	}
	wg.Wait()
	end := time.Now()
	close(stop)
	res := rec.result("", start, end)
	return res, nil
}

func dialIMAP(o *IMAPOptions) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}} // loopback, self-signed
	switch o.TLS {
	case "implicit":
		return imapclient.DialTLS(o.Addr, opts)
	case "starttls":
		return imapclient.DialStartTLS(o.Addr, opts)
	}
	conn, err := net.DialTimeout("tcp", o.Addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return imapclient.New(conn, opts), nil
}

// populate appends messages until INBOX holds o.Populate of them.
func populate(o IMAPOptions, u Credential, body []byte) error {
	c, err := dialIMAP(&o)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(u.User, u.Password).Wait(); err != nil {
		return err
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return err
	}
	for i := int(sel.NumMessages); i < o.Populate; i++ {
		if err := appendMsg(c, i, body); err != nil {
			return err
		}
	}
	return c.Logout().Wait()
}

func appendMsg(c *imapclient.Client, i int, body []byte) error {
	_, err := appendMsgUID(c, i, body)
	return err
}

func appendMsgUID(c *imapclient.Client, i int, body []byte) (imap.UID, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <loadgen@localhost>\r\nTo: <reader@localhost>\r\nSubject: loadgen message %d\r\nMessage-ID: <%d.%d@loadgen.localhost>\r\nDate: %s\r\n\r\n",
		i, time.Now().UnixNano(), i, time.Now().Format(time.RFC1123Z))
	b.Write(body)
	cmd := c.Append("INBOX", int64(b.Len()), nil)
	if _, err := cmd.Write(b.Bytes()); err != nil {
		cmd.Close()
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	d, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return d.UID, nil
}

type imapWorker struct {
	o    *IMAPOptions
	cred Credential
	rec  *recorder
	body []byte
	rnd  *rand.Rand
	c    *imapclient.Client
	n    uint32 // messages in INBOX at SELECT; only higher numbers are expunged
}

// timed runs one command and records its latency under op.
func (w *imapWorker) timed(op string, f func() error) error {
	t0 := time.Now()
	if err := f(); err != nil {
		w.rec.failure(op + ":" + imapErrorCode(err))
		return err
	}
	w.rec.success(op, time.Since(t0))
	return nil
}

func (w *imapWorker) run(deadline time.Time) {
	for cycles := 0; time.Now().Before(deadline) && (w.o.Cycles == 0 || cycles < w.o.Cycles); {
		if w.c == nil && w.connect() != nil {
			continue
		}
		if w.cycle() != nil {
			w.c.Close()
			w.c = nil
		}
		cycles++
	}
	if w.c != nil {
		w.timed("logout", func() error { return w.c.Logout().Wait() })
		w.c.Close()
	}
}

func (w *imapWorker) connect() error {
	var c *imapclient.Client
	err := w.timed("login", func() error {
		var err error
		if c, err = dialIMAP(w.o); err != nil {
			return err
		}
		return c.Login(w.cred.User, w.cred.Password).Wait()
	})
	if err == nil {
		w.c = c
		err = w.timed("select", func() error {
			sel, err := c.Select("INBOX", nil).Wait()
			if err == nil {
				// Other clients' appended messages come and go above the
				// populated ones; numbers above those may vanish.
				w.n = sel.NumMessages
				if w.o.Populate > 0 {
					w.n = min(w.n, uint32(w.o.Populate))
				}
			}
			return err
		})
	}
	if err != nil {
		if c != nil {
			c.Close()
		}
		w.c = nil
	}
	return err
}

// cycle is what a mail client does on a visit: list recent headers, read
// a few bodies, flag one, search, file a new message and delete it.
func (w *imapWorker) cycle() error {
	if w.n == 0 {
		return errors.New("empty INBOX: use -populate")
	}
	c := w.c
	lo := max(1, int(w.n)-19)
	hdrs := &imap.FetchOptions{Flags: true, Envelope: true, RFC822Size: true, UID: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}
	steps := []struct {
		op string
		f  func() error
	}{
		{"fetch_hdr", func() error {
			var set imap.SeqSet
			set.AddRange(uint32(lo), w.n)
			return c.Fetch(set, hdrs).Close()
		}},
		{"fetch_body", func() error {
			set := imap.SeqSetNum(uint32(1 + w.rnd.IntN(int(w.n))))
			return c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Close()
		}},
		{"store", func() error {
			set := imap.SeqSetNum(uint32(1 + w.rnd.IntN(int(w.n))))
			return c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
		}},
		{"search", func() error {
			crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: fmt.Sprintf("message %d", w.rnd.IntN(int(w.n)))}}}
			_, err := c.UIDSearch(crit, nil).Wait()
			return err
		}},
	}
	for _, s := range steps {
		if err := w.timed(s.op, s.f); err != nil {
			return err
		}
	}
	var uid imap.UID
	if err := w.timed("append", func() error {
		var err error
		uid, err = appendMsgUID(c, int(w.n)+1, w.body)
		return err
	}); err != nil || uid == 0 {
		return err
	}
	return w.timed("expunge", func() error {
		set := imap.UIDSetNum(uid)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return err
		}
		return c.UIDExpunge(set).Close()
	})
}

func imapErrorCode(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return string(ie.Type)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "conn"
}
