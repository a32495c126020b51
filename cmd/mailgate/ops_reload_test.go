package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mailgate/config"
	"mailgate/filters"
)

// TestOpsRestartKeys: only settings a reload cannot apply are named; a
// changed filter list or catch-all is applied, so it is not.
func TestOpsRestartKeys(t *testing.T) {
	t.Parallel()
	base := config.Default(filters.Builtin())
	same := config.Default(filters.Builtin())
	same.Listeners[0].Filters = []string{"ratelimit", "spf"}
	same.Mailbox.CatchAll = map[string]string{"localhost": "postmaster@localhost"}
	same.Limits.MaxRecipients = 3
	same.LocalDomains = append(same.LocalDomains, "example.org")
	if got := restartKeys(base, same); len(got) != 0 {
		t.Errorf("reloadable changes reported as needing a restart: %v", got)
	}
	changed := config.Default(filters.Builtin())
	changed.Listeners[1].Address = "127.0.0.1:1587"
	changed.Queue.MaxConcurrent++
	changed.Log.Format = "json"
	changed.Limits.MaxConnections++
	changed.Mailbox.IMAPIdleTimeout++
	want := []string{"log.format", "listeners (sockets are bound at start; filters lists apply at once)",
		"limits.max_connections", "queue", "mailbox (but catch_all)"}
	if got := restartKeys(base, changed); !reflect.DeepEqual(got, want) {
		t.Errorf("restartKeys = %q, want %q", got, want)
	}
}

// TestOpsListenerSet: /readyz's listener check names every configured
// listener that is not serving, in config order.
func TestOpsListenerSet(t *testing.T) {
	t.Parallel()
	want := []config.Listener{{Name: "mx"}, {Name: "submission"}, {Name: "http"}}
	var s listenerSet
	if err := s.missing(want); err == nil || err.Error() != "not serving: mx, submission, http" {
		t.Errorf("nothing bound: %v", err)
	}
	s.set("mx", true)
	s.set("http", true)
	s.set("submission", true)
	if err := s.missing(want); err != nil {
		t.Errorf("all bound: %v", err)
	}
	s.set("submission", false)
	if err := s.missing(want); err == nil || err.Error() != "not serving: submission" {
		t.Errorf("submission stopped: %v", err)
	}
}

// TestOpsCheckWritable: the spool check fails, saying why, when the
// spool cannot take a file or the disk is below the threshold; it leaves
// no file behind.
func TestOpsCheckWritable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := checkWritable(dir, 1); err != nil {
		t.Errorf("writable dir: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("check left %v behind", left)
	}
	if err := checkWritable(dir, 1<<62); err == nil || !strings.Contains(err.Error(), "(http.min_free_disk is 4611686018427387904)") {
		t.Errorf("huge threshold: %v", err)
	}
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o600)
	if err := checkWritable(notDir, 1); err == nil || !strings.HasPrefix(err.Error(), "spool not writable: ") {
		t.Errorf("spool is a file: %v", err)
	}
}
