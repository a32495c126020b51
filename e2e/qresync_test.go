package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
	"mailgate/internal/testenv"
)

// The phone-and-laptop pair (issue 15, RFC 7162): two Python imaplib
// sessions on one account, the laptop over STARTTLS on the imap
// listener, the phone over implicit TLS on imaps
// (testdata/qresync_sync.py does the IMAP side, one step per run).

// syncFetch is one FETCH response as the script reports it.
type syncFetch struct {
	UID    uint32   `json:"uid"`
	Flags  []string `json:"flags"`
	ModSeq uint64   `json:"modseq"`
}

// syncPair runs the script's steps against srv.
type syncPair struct {
	t      *testing.T
	python string
	script string
	srv    *mgtest.Server
}

const (
	syncUser = "pat@localhost"
	syncPass = "correct horse battery"
)

func newSyncPair(t *testing.T) *syncPair {
	python := testenv.Tool(t, "python3")
	srv := mgtest.Start(t, mgtest.Options{Protocols: []string{"imap", "imaps"}, Users: map[string]string{syncUser: syncPass}})
	script, err := filepath.Abs("testdata/qresync_sync.py")
	if err != nil {
		t.Fatal(err)
	}
	return &syncPair{t: t, python: python, script: script, srv: srv}
}

// step runs one step and decodes the JSON it prints into out.
func (p *syncPair) step(out any, name string, extra ...string) {
	p.t.Helper()
	host, port143, _ := strings.Cut(p.srv.Addr["imap"], ":")
	_, port993, _ := strings.Cut(p.srv.Addr["imaps"], ":")
	cafile := filepath.Join(p.srv.DataDir, "tls", "selfsigned.crt")
	args := append([]string{p.script, name, host, port143, port993, cafile, syncUser, syncPass}, extra...)
	b, err := exec.Command(p.python, args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("step %s: %v\n%s", name, err, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		p.t.Fatalf("step %s printed no JSON: %v\n%s", name, err, b)
	}
}

// TestQresyncPhoneAndLaptop: the laptop remembers INBOX (UIDVALIDITY,
// HIGHESTMODSEQ, UIDs) and logs out; the phone flags two messages,
// expunges two and appends one; mailgate is killed (SIGKILL) and restarted; the laptop comes
// back with SELECT (QRESYNC ...) and sees exactly those changes, with
// the MODSEQs the phone saw, and the new message by UID FETCH
// CHANGEDSINCE.
func TestQresyncPhoneAndLaptop(t *testing.T) {
	t.Parallel()
	p := newSyncPair(t)
	var seeded map[string]int
	p.step(&seeded, "seed")
	var kept struct {
		UIDValidity   uint32   `json:"uidvalidity"`
		HighestModSeq uint64   `json:"highestmodseq"`
		UIDs          []uint32 `json:"uids"`
	}
	p.step(&kept, "remember")
	if !reflect.DeepEqual(kept.UIDs, []uint32{1, 2, 3, 4, 5, 6}) || kept.HighestModSeq == 0 {
		t.Fatalf("laptop remembered %+v, want UIDs 1:6 and a HIGHESTMODSEQ", kept)
	}
	var phone struct {
		Changed []syncFetch `json:"changed"`
		New     []syncFetch `json:"new"`
	}
	p.step(&phone, "phone")
	wantChanged := []syncFetch{{UID: 1, Flags: []string{`\Seen`}}, {UID: 2, Flags: []string{`\Flagged`}}}
	if len(phone.Changed) != 2 || len(phone.New) != 1 || phone.New[0].UID != 7 {
		t.Fatalf("phone saw %+v, want FETCH MODSEQ for UIDs 1, 2 and 7", phone)
	}
	for i, c := range phone.Changed {
		wantChanged[i].ModSeq = c.ModSeq
		if c.ModSeq <= kept.HighestModSeq {
			t.Errorf("phone's change of UID %d got MODSEQ %d, not above the laptop's %d", c.UID, c.ModSeq, kept.HighestModSeq)
		}
	}

	p.srv.Kill() // SIGKILL: MODSEQs and the expunge log must already be on disk
	p.srv.Restart()

	raw, err := json.Marshal(kept)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Vanished        []string    `json:"vanished"`
		Fetch           []syncFetch `json:"fetch"`
		HighestModSeq   uint64      `json:"highestmodseq"`
		CSVanished      []string    `json:"changedsince_vanished"`
		ChangedSinceRes []syncFetch `json:"changedsince"`
	}
	p.step(&got, "resync", string(raw))
	if !slices.Equal(got.Vanished, []string{"(EARLIER) 3:4"}) {
		t.Errorf("SELECT (QRESYNC) VANISHED = %q, want exactly (EARLIER) 3:4", got.Vanished)
	}
	// SELECT names the known UIDs (1:6): only their changes come back.
	if !reflect.DeepEqual(got.Fetch, wantChanged) {
		t.Errorf("SELECT (QRESYNC) FETCH = %+v, want %+v (the changed messages, with the phone's MODSEQs)", got.Fetch, wantChanged)
	}
	if !slices.Equal(got.CSVanished, []string{"(EARLIER) 3:4"}) {
		t.Errorf("UID FETCH (CHANGEDSINCE VANISHED) VANISHED = %q, want exactly (EARLIER) 3:4", got.CSVanished)
	}
	wantSince := append(append([]syncFetch(nil), wantChanged...), syncFetch{UID: 7, Flags: []string{}, ModSeq: phone.New[0].ModSeq})
	if !reflect.DeepEqual(got.ChangedSinceRes, wantSince) {
		t.Errorf("UID FETCH 1:* (CHANGEDSINCE) = %+v, want %+v (the changed and the new message)", got.ChangedSinceRes, wantSince)
	}
	if got.HighestModSeq < phone.New[0].ModSeq {
		t.Errorf("HIGHESTMODSEQ after the restart %d, below the phone's MODSEQ %d: it went backwards", got.HighestModSeq, phone.New[0].ModSeq)
	}
}

// TestQresyncLiveSessions: laptop and phone have INBOX selected at
// once; what the phone expunges and flags reaches the idling laptop as
// VANISHED and FETCH with MODSEQ, and the next changes reach it on NOOP.
func TestQresyncLiveSessions(t *testing.T) {
	t.Parallel()
	p := newSyncPair(t)
	var seeded map[string]int
	p.step(&seeded, "seed")
	var got struct {
		UIDs         []uint32    `json:"uids"`
		Flagged      []syncFetch `json:"flagged"`
		Answered     []syncFetch `json:"answered"`
		Idle         []string    `json:"idle"`
		NoopVanished []string    `json:"noop_vanished"`
		NoopFetch    []syncFetch `json:"noop_fetch"`
	}
	p.step(&got, "live")
	if len(got.Flagged) != 1 || len(got.Answered) != 1 {
		t.Fatalf("phone's STORE replies: %+v", got)
	}
	// The laptop selected INBOX first: its messages are \Recent to it.
	wantIdle := []string{"* VANISHED 2", "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (" + strconv.FormatUint(got.Flagged[0].ModSeq, 10) + "))"}
	for _, w := range wantIdle {
		if !slices.Contains(got.Idle, w) {
			t.Errorf("IDLE pushed %q, want the line %q", got.Idle, w)
		}
	}
	if slices.ContainsFunc(got.Idle, func(l string) bool { return strings.HasSuffix(l, " EXPUNGE") }) {
		t.Errorf("IDLE pushed EXPUNGE with QRESYNC on: %q", got.Idle)
	}
	if !slices.Equal(got.NoopVanished, []string{"1"}) {
		t.Errorf("NOOP VANISHED = %q, want exactly UID 1", got.NoopVanished)
	}
	want := []syncFetch{{UID: 3, Flags: []string{`\Answered`, `\Recent`}, ModSeq: got.Answered[0].ModSeq}}
	if !reflect.DeepEqual(got.NoopFetch, want) {
		t.Errorf("NOOP FETCH = %+v, want %+v", got.NoopFetch, want)
	}
}
