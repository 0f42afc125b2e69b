package transport

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"cis490/internal/wire"
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

// Class is how the shipper treats a failed request (SPEC §8).
type Class int

// Classes of failure.
const (
	// Transient keeps the episode and retries with backoff: 404, 429, 5xx,
	// 507, network and TLS errors, stalls, credentials not yet present, and
	// any status the table does not name.
	Transient Class = iota
	// Fatal quarantines the episode: 400, 409, 412, 413.
	Fatal
	// Credentials keeps the episode and backs off: 401, 403 are the host's
	// configuration, not the episode's.
	Credentials
)

// String returns the class name used in logs.
func (c Class) String() string {
	switch c {
	case Fatal:
		return "fatal"
	case Credentials:
		return "credentials"
	}
	return "transient"
}

// Classify maps a request error to its Class. Statuses the table of SPEC §8
// does not name (411, 405, …) are transient: keeping an episode is always
// safe, quarantining it on an unexpected answer is not.
func Classify(err error) Class {
	var we *wire.Error
	if !errors.As(err, &we) {
		return Transient
	}
	switch we.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusPreconditionFailed, http.StatusRequestEntityTooLarge:
		return Fatal
	case http.StatusUnauthorized, http.StatusForbidden:
		return Credentials
	}
	return Transient
}

// Code returns a short stable name for a failure, for the error= key of log
// lines: the receiver's code, else a name for the local cause.
func Code(err error) string {
	var we *wire.Error
	var ne net.Error
	switch {
	case errors.As(err, &we):
		if we.Code != "" {
			return we.Code
		}
		return "http-" + strconv.Itoa(we.Status)
	case errors.Is(err, ErrCertsNotReady):
		return "credentials-not-ready"
	case errors.Is(err, ErrStalled):
		return "stalled"
	case errors.As(err, &ne):
		return "network"
	}
	return "network"
}

// Status returns the HTTP status of a refusal, or 0 for local and network
// failures.
func Status(err error) int {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Status
	}
	return 0
}
