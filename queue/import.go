package queue

import (
	"errors"
	"fmt"
	"mailgate/internal/mailmsg"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"mailgate/internal/safefile"
)

// Import results, one per message file of the imported spool.
const (
	Imported    = "imported"     // now in this queue; its files left the old spool
	AlreadyHere = "already here" // in this queue or finished here: an earlier import
	WasFinished = "finished"     // every recipient was final: nothing to deliver
	Broken      = "broken"       // fails its length or checksum: left where it is
	Failed      = "failed"       // could not be written here: left where it is
)

// ImportResult is what Import did with one message.
type ImportResult struct {
	ID      string `json:"id"`
	Result  string `json:"result"`
	Detail  string `json:"detail,omitempty"`
	Pending int    `json:"pending,omitempty"` // recipients still to deliver
}

// Import takes over the spool of a dead node (dir: its data_dir/queue,
// or its data_dir): each message is checked against the length and
// CRC-32C of its envelope line, written into this queue with its
// delivery state (recipients already delivered stay delivered) on
// stable storage, made due at once, and only then removed from dir. A
// spool whose node still runs is refused (its lock, lock.go). A second
// import of the same directory imports nothing twice: a message already
// here or finished here is only removed from dir.
func (q *Queue) Import(dir string) ([]ImportResult, error) {
	dir, err := q.importDir(dir)
	if err != nil {
		return nil, err
	}
	lock, err := lockSpool(dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), msgSuffix); ok && !e.IsDir() {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]ImportResult, 0, len(ids))
	for _, id := range ids {
		r := q.importOne(dir, id)
		q.log.Info("import", "msgid", id, "result", r.Result, "detail", r.Detail, "from", dir)
		out = append(out, r)
	}
	return out, safefile.SyncDir(dir)
}

// importDir resolves dir to a spool directory that is not ours.
func (q *Queue) importDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(filepath.Join(abs, "queue")); err == nil && st.IsDir() {
		abs = filepath.Join(abs, "queue") // a data_dir
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", fmt.Errorf("%s is not a spool directory (a node's data_dir/queue)", dir)
	}
	own, _ := filepath.Abs(q.spool.Dir())
	if abs == own {
		return "", errors.New("that is this server's own spool")
	}
	return abs, nil
}

// importOne moves one message into this queue.
func (q *Queue) importOne(dir, id string) ImportResult {
	r := ImportResult{ID: id}
	data, err := os.ReadFile(filepath.Join(dir, id+msgSuffix))
	var env *mailmsg.Envelope
	var raw []byte
	if err == nil {
		env, raw, err = parseSpoolFile(data)
	}
	if err == nil && env.ID != id {
		err = errors.New("the envelope's id does not match the file name")
	}
	if err != nil {
		r.Result, r.Detail = Broken, err.Error()
		return r
	}
	if q.has(id) {
		r.Result = AlreadyHere
		return q.dropSource(dir, id, r)
	}
	state, _ := os.ReadFile(filepath.Join(dir, id+stateSuffix))
	m := &message{env: env, size: int64(len(raw)), st: loadState(env, decodeState(id, state)), inFlight: map[int]bool{}}
	if m.allFinal() {
		r.Result = WasFinished
		return q.dropSource(dir, id, r)
	}
	if err := q.adopt(m, raw); err != nil {
		r.Result, r.Detail = Failed, err.Error()
		return r
	}
	r.Result = Imported
	for _, rs := range m.st.Recipients {
		if !rs.final() {
			r.Pending++
		}
	}
	return q.dropSource(dir, id, r)
}

// has reports whether id is queued or finished here.
func (q *Queue) has(id string) bool {
	q.mu.Lock()
	_, queued := q.msgs[id]
	q.mu.Unlock()
	if queued {
		return true
	}
	_, done := q.done.Get(id)
	return done
}

// adopt writes an imported message and its state durably, then makes its
// recipients due now and indexes it.
func (q *Queue) adopt(m *message, raw []byte) error {
	if err := q.spool.Write(m.env, raw); err != nil {
		return err
	}
	now := q.now()
	for i := range m.st.Recipients {
		if r := &m.st.Recipients[i]; !r.final() {
			r.NextAttempt = now
		}
	}
	if err := q.saveState(m); err != nil {
		q.spool.Remove(m.env.ID)
		return err
	}
	q.mu.Lock()
	q.msgs[m.env.ID] = m
	q.indexMessage(m)
	q.poke()
	q.mu.Unlock()
	return nil
}

// dropSource removes a message's files from the imported spool, once it
// is safe here (or was never needed).
func (q *Queue) dropSource(dir, id string, r ImportResult) ImportResult {
	for _, suf := range []string{stateSuffix, msgSuffix} {
		if err := os.Remove(filepath.Join(dir, id+suf)); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.Detail = "left in the old spool: " + err.Error()
		}
	}
	return r
}
