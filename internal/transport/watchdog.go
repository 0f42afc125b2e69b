package transport

import (
	"io"
	"sync"
	"time"
)

// watchdog cancels a request when no byte moved for the timeout, or, once
// the body is sent, when the answer takes longer than its allowance. It
// measures stalls, never total time.
type watchdog struct {
	timeout time.Duration
	cancel  func(error)

	mu       sync.Mutex
	limit    time.Duration // current allowed quiet stretch
	last     time.Time     // last movement (or phase change)
	t        *time.Timer
	stopped  bool
	finishAt time.Time
}

func newWatchdog(timeout time.Duration, cancel func(error)) *watchdog {
	w := &watchdog{timeout: timeout, cancel: cancel, limit: timeout, last: time.Now()}
	w.t = time.AfterFunc(timeout, w.fire)
	return w
}

// fire runs when the timer expires; movement since it was armed re-arms it
// for the rest of the stretch instead of resetting the timer on every read.
func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if quiet := time.Since(w.last); quiet < w.limit {
		w.t.Reset(w.limit - quiet)
		return
	}
	w.stopped = true
	w.cancel(ErrStalled)
}

// moved records that bytes moved.
func (w *watchdog) moved() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// finished records that the whole body (sent bytes) is out: from now on the
// answer may take timeout + 1 s per 64 MiB sent. It returns that deadline.
func (w *watchdog) finished(sent int64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.finishAt.IsZero() {
		return w.finishAt
	}
	w.last = time.Now()
	w.limit = w.timeout + time.Duration(sent/bytesPerGraceSecond)*time.Second
	w.finishAt = w.last.Add(w.limit)
	return w.finishAt
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.t.Stop()
	w.mu.Unlock()
}

// progressReader reports every read to onRead with the running total, and
// once more with done=true when the reader hit EOF or size bytes were read.
type progressReader struct {
	r      io.Reader
	size   int64 // 0: only EOF ends it
	n      int64
	done   bool
	onRead func(n int64, done bool)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if n > 0 {
		p.onRead(p.n, false)
	}
	if !p.done && (err == io.EOF || p.size > 0 && p.n >= p.size) {
		p.done = true
		p.onRead(p.n, true)
	}
	return n, err
}
