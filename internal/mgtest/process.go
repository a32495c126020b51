package mgtest

import (
	"os"
	"os/exec"
	"strings"
	"sync"
)

// process is one run of `mailgate serve`: it reads the log as it comes,
// signals msg=ready, remembers the password= line and lets tests wait for
// any other line.
type process struct {
	srv   *Server
	cmd   *exec.Cmd
	ready chan struct{} // closed at the msg=ready line
	done  chan struct{} // closed once the process has exited and its log is read
	eof   chan struct{} // closed when the log pipe is drained
	err   error         // from Wait

	mu       sync.Mutex
	lines    []string
	password string
	readyOK  bool
	watchers []watcher
}

type watcher struct {
	substr string
	ch     chan string
	skip   int // matching lines still to pass over before the one wanted
}

func startProcess(s *Server, args []string) (*process, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(Binary(s.t), args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = w, w
	p := &process{srv: s, cmd: cmd, ready: make(chan struct{}), done: make(chan struct{}), eof: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	w.Close() // the child has its copy; EOF comes when it exits
	go scanLines(p, r)
	go func() {
		p.err = cmd.Wait()
		<-p.eof
		close(p.done)
	}()
	return p, nil
}

// line handles one log line.
func (p *process) line(l string) {
	p.srv.addLog(l)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, l)
	if strings.Contains(l, "password=") && p.password == "" {
		p.password = l
	}
	if !p.readyOK && strings.Contains(l, " msg=ready") {
		p.readyOK = true
		close(p.ready)
	}
	kept := p.watchers[:0]
	for _, w := range p.watchers {
		if strings.Contains(l, w.substr) && w.skip == 0 {
			w.ch <- l
		} else {
			if strings.Contains(l, w.substr) {
				w.skip--
			}
			kept = append(kept, w)
		}
	}
	p.watchers = kept
}

// watch returns a channel that gets the first line (already logged or
// still to come) containing substr.
func (p *process) watch(substr string) <-chan string { return p.watchN(substr, 1) }

// watchN is watch for the n-th line containing substr.
func (p *process) watchN(substr string, n int) <-chan string {
	ch := make(chan string, 1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if strings.Contains(l, substr) {
			if n--; n == 0 {
				ch <- l
				return ch
			}
		}
	}
	p.watchers = append(p.watchers, watcher{substr, ch, n - 1})
	return ch
}

func (p *process) passwordLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.password
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
