package api

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// pruner deletes the files of dir older than ttl, at most once an hour
// (Idempotency-Key records, message labels).
type pruner struct {
	dir string
	ttl time.Duration
	now func() time.Time

	mu   sync.Mutex
	last time.Time
}

func (p *pruner) maybe() {
	p.mu.Lock()
	now := p.now()
	if now.Sub(p.last) < time.Hour {
		p.mu.Unlock()
		return
	}
	p.last = now
	p.mu.Unlock()
	entries, _ := os.ReadDir(p.dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > p.ttl {
			os.Remove(filepath.Join(p.dir, e.Name()))
		}
	}
}
