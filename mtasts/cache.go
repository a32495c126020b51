package mtasts

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"mailgate/internal/safefile"
)

// Cache keeps fetched policies in memory and in one JSON file per domain
// under Dir, so an enforced policy survives a restart: RFC 8461 §5.1
// makes the cache what defeats an attacker who blocks the TXT lookup.
type Cache struct {
	Dir string // empty: memory only

	mu  sync.Mutex
	mem map[string]*Policy
}

// Get returns the cached policy of domain, expired or not, or nil.
func (c *Cache) Get(domain string) *Policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.mem[domain]; ok {
		return p
	}
	p := c.load(domain)
	if c.mem == nil {
		c.mem = map[string]*Policy{}
	}
	c.mem[domain] = p
	return p
}

// Put stores p for its domain, durably when Dir is set.
func (c *Cache) Put(p *Policy) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mem == nil {
		c.mem = map[string]*Policy{}
	}
	c.mem[p.Domain] = p
	if c.Dir == "" {
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	return safefile.WriteFile(c.path(p.Domain), b, 0o600)
}

func (c *Cache) load(domain string) *Policy {
	if c.Dir == "" {
		return nil
	}
	b, err := os.ReadFile(c.path(domain))
	if err != nil {
		return nil
	}
	var p Policy
	if json.Unmarshal(b, &p) != nil || p.Domain != domain {
		return nil // a damaged file is as good as none; the next fetch replaces it
	}
	return &p
}

// path names the file of a domain. Domains reach here already checked as
// host names, but the name is still kept to one path element.
func (c *Cache) path(domain string) string {
	return filepath.Join(c.Dir, strings.ReplaceAll(domain, "/", "_")+".json")
}

// Domains lists the domains with a policy on disk, for the dns-records
// and status commands.
func (c *Cache) Domains() ([]string, error) {
	ents, err := os.ReadDir(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range ents {
		if d, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(d, ".") {
			out = append(out, d)
		}
	}
	return out, err
}
