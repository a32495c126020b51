package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mailgate/config"
	"mailgate/metrics"
	"mailgate/web"
)

// addReadyChecks makes /readyz answer 200 only when every configured
// listener is bound and serving, the spool takes a file, and its disk
// has more than http.min_free_disk free (the value of the last good
// reload).
func (a *app) addReadyChecks() {
	a.http.AddCheck(web.Check{Name: "listeners", Func: func(context.Context) error {
		return a.listening.missing(a.cfg.Listeners)
	}})
	a.http.AddCheck(web.Check{Name: "spool", Func: func(context.Context) error {
		return checkWritable(filepath.Join(a.cfg.DataDir, "queue"), int64(a.live.Load().HTTP.MinFreeDisk))
	}})
}

// checkWritable is the /readyz spool check: the directory takes a file
// and the disk has more than minFree bytes free.
func checkWritable(dir string, minFree int64) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return fmt.Errorf("spool not writable: %v", err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	free, err := metrics.FreeBytes(dir)
	if err != nil {
		return err
	}
	if free < minFree {
		return fmt.Errorf("only %d bytes free on the spool disk (http.min_free_disk is %d)", free, minFree)
	}
	return nil
}

// listenerSet knows which listeners are bound and serving: set true
// once bound, false when the server on it returns (failure or shutdown).
type listenerSet struct {
	mu sync.Mutex
	up map[string]bool
}

func (s *listenerSet) set(name string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up == nil {
		s.up = map[string]bool{}
	}
	s.up[name] = up
}

// missing names the listeners of want that are not serving.
func (s *listenerSet) missing(want []config.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var down []string
	for _, l := range want {
		if !s.up[l.Name] {
			down = append(down, l.Name)
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("not serving: %s", strings.Join(down, ", "))
	}
	return nil
}
