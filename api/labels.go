package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"mailgate/internal/safefile"
)

// labelsTTL is how long a message's tags and metadata are kept: longer
// than a message may stay queued (queue.max_age, 5 days by default) plus
// the webhooks' 24 hours.
const labelsTTL = 8 * 24 * time.Hour

// labelStore keeps the tags and metadata of API messages, for webhook
// events: <dir>/labels/<queue ID>.json, written before the message is
// queued.
type labelStore struct {
	dir   string
	prune *pruner
}

type labels struct {
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func openLabels(dir string, now func() time.Time) (*labelStore, error) {
	d := filepath.Join(dir, "labels")
	return &labelStore{dir: d, prune: &pruner{dir: d, ttl: labelsTTL, now: now}}, os.MkdirAll(d, 0o700)
}

func (l *labelStore) save(id string, tags []string, meta map[string]string) error {
	if len(tags) == 0 && len(meta) == 0 {
		return nil
	}
	l.prune.maybe()
	b, err := json.Marshal(labels{tags, meta})
	if err != nil {
		return err
	}
	return safefile.WriteFile(filepath.Join(l.dir, id+".json"), b, 0o600)
}

// Labels returns what the request that sent queue ID id gave as tags and
// metadata (nothing for a message that did not come over the API); dir is
// Options.Dir.
func Labels(dir, id string) ([]string, map[string]string) {
	if !validQueueID(id) {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "labels", id+".json"))
	if err != nil {
		return nil, nil
	}
	var lb labels
	json.Unmarshal(b, &lb)
	return lb.Tags, lb.Metadata
}

// validQueueID keeps file names built from IDs inside the directory.
func validQueueID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
