package mailbox

import (
	"bufio"
	"bytes"
	"container/list"
	"errors"
	"io"
	"sync"
)

// Header returns a message's header section, up to and including the
// blank line that ends it (the whole file when there is none).
//
// IMAP clients ask for headers all the time (ENVELOPE and
// BODY.PEEK[HEADER.FIELDS] when a folder is opened, SEARCH FROM/SUBJECT
// on every filter run), and opening and reading each file was most of
// the cost of those commands. A stored message never changes, so its
// headers are kept in memory within a byte budget (Options.HeaderCache),
// least recently used first out. The key is the message's process-unique
// id, not its file name or inode: a name can come back (another Maildir
// program, a restored backup) and an inode is reused by the file system,
// and either would then serve one message's headers for another's.
func (s *Store) Header(account, folder string, uid uint32) ([]byte, error) {
	key, err := s.headerKey(account, folder, uid)
	if err != nil {
		return nil, err
	}
	if h, ok := s.headers.get(key); ok {
		s.metrics.headerLookups.WithLabelValues("hit").Inc()
		return h, nil
	}
	s.metrics.headerLookups.WithLabelValues("miss").Inc()
	f, _, err := s.OpenMessage(account, folder, uid)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, complete, err := readHeader(f)
	if err != nil {
		return nil, err
	}
	if complete {
		s.headers.put(key, h)
	}
	return h, nil
}

func (s *Store) headerKey(account, folder string, uid uint32) (uint64, error) {
	a, err := s.lock(account)
	if err != nil {
		return 0, err
	}
	defer a.mu.Unlock()
	f, err := a.loadedFolder(folder)
	if err != nil {
		return 0, err
	}
	m := f.find(uid)
	if m == nil {
		return 0, ErrNoMessage
	}
	return m.id, nil
}

// maxHeader bounds what readHeader keeps: a longer header is returned
// cut (searches and envelopes see its first maxHeader bytes, as with a
// header that ends there) and not cached.
const maxHeader = 256 << 10

// readHeader reads through the first empty line. complete is false when
// the header was cut at maxHeader.
func readHeader(r io.Reader) (h []byte, complete bool, err error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHeader), 4096)
	var buf bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		buf.Write(line)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return bytes.Clone(buf.Bytes()), buf.Len() < maxHeader, nil
		}
		if err != nil {
			return nil, false, err
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return bytes.Clone(buf.Bytes()), true, nil
		}
	}
}

// headerCache is a byte-bounded LRU of header sections.
type headerCache struct {
	mu     sync.Mutex
	budget int
	used   int
	order  *list.List // front: most recently used
	byKey  map[uint64]*list.Element
}

type cachedHeader struct {
	key    uint64
	header []byte
}

// entryCost is what one cached header counts against the budget: its
// bytes and the bookkeeping around them.
func entryCost(h []byte) int { return len(h) + 64 }

func newHeaderCache(budget int) *headerCache {
	return &headerCache{budget: budget, order: list.New(), byKey: map[uint64]*list.Element{}}
}

func (c *headerCache) get(key uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byKey[key]
	if e == nil {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedHeader).header, true
}

func (c *headerCache) put(key uint64, h []byte) {
	cost := entryCost(h)
	if cost > c.budget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byKey[key]; e != nil {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&cachedHeader{key: key, header: h})
	c.used += cost
	for c.used > c.budget {
		old := c.order.Remove(c.order.Back()).(*cachedHeader)
		delete(c.byKey, old.key)
		c.used -= entryCost(old.header)
	}
}
