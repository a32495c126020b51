package delivery

import (
	"sync"
	"time"
)

// pool keeps a few idle sessions per host so that several messages to the
// same host share one connection. An idle session is closed after the
// idle timeout by a timer, not by a goroutine per session.
type pool struct {
	max     int
	timeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*idleSession
	closed bool
}

type idleSession struct {
	s     *session
	timer *time.Timer
}

func newPool(max int, timeout time.Duration) *pool {
	return &pool{max: max, timeout: timeout, idle: map[string][]*idleSession{}}
}

// get takes an idle session for key, newest first, or returns nil.
func (p *pool) get(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	if len(list) == 0 {
		return nil
	}
	is := list[len(list)-1]
	p.idle[key] = list[:len(list)-1]
	is.timer.Stop()
	return is.s
}

// put keeps s for reuse, or closes it when the pool is full or closed.
func (p *pool) put(s *session) {
	key := s.t.key()
	p.mu.Lock()
	if p.closed || p.max <= 0 || p.timeout <= 0 || len(p.idle[key]) >= p.max {
		p.mu.Unlock()
		s.close()
		return
	}
	is := &idleSession{s: s}
	is.timer = time.AfterFunc(p.timeout, func() { p.expire(key, is) })
	p.idle[key] = append(p.idle[key], is)
	p.mu.Unlock()
}

// expire closes is if get has not taken it meanwhile.
func (p *pool) expire(key string, is *idleSession) {
	p.mu.Lock()
	list := p.idle[key]
	found := false
	for i, x := range list {
		if x == is {
			p.idle[key] = append(list[:i:i], list[i+1:]...)
			found = true
			break
		}
	}
	if len(p.idle[key]) == 0 {
		delete(p.idle, key)
	}
	p.mu.Unlock()
	if found {
		is.s.close()
	}
}

// close ends every idle session; later puts close theirs at once.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*idleSession
	for _, list := range p.idle {
		all = append(all, list...)
	}
	p.idle = map[string][]*idleSession{}
	p.mu.Unlock()
	for _, is := range all {
		is.timer.Stop()
		is.s.close()
	}
}
