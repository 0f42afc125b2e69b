package api

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Bodies that are too slow, and the sharing of slots and free space between
// hosts (SPEC §4.2 "No host can hold others back", §4.5).

// Defaults of the body-rate rule: a body is judged after its first
// rateGrace, on its average over the last rateWindow.
const (
	defaultRateGrace  = 10 * time.Second
	defaultRateWindow = 30 * time.Second
)

// Why a guarded body was cut off.
var (
	errBodyIdle      = errors.New("no body byte within body_idle_timeout_s")
	errBodyTooSlow   = errors.New("body slower than min_body_rate")
	errBodyPreempted = errors.New("upload slot given to a host holding fewer")
)

// bodyGuard reads a request body and cuts it off (by moving the
// connection's read deadline to now, which fails a Read in progress) when
// no byte arrives for idle, when the body's average rate over the last
// window falls below rate once grace has passed, or when its slot is taken
// back (preempt). A ticker goroutine-free timer checks every tick.
type bodyGuard struct {
	r     io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	rate  int64
	grace time.Duration
	win   time.Duration
	tick  time.Duration

	start   time.Time
	n       atomic.Int64 // bytes read so far
	last    atomic.Int64 // unix nanos of the last byte (or the start)
	samples []int64      // n at each tick, newest last, at most win/tick+1
	timer   *time.Timer
	cause   atomic.Pointer[error]
}

// guardOptions are the limits a bodyGuard enforces.
type guardOptions struct {
	idle  time.Duration
	rate  int64
	grace time.Duration
	win   time.Duration
}

func newBodyGuard(r io.ReadCloser, w http.ResponseWriter, o guardOptions) *bodyGuard {
	if o.grace <= 0 {
		o.grace = defaultRateGrace
	}
	if o.win <= 0 {
		o.win = defaultRateWindow
	}
	tick := o.win / 30
	if o.idle > 0 && o.idle/4 < tick {
		tick = o.idle / 4
	}
	tick = max(tick, 10*time.Millisecond)
	g := &bodyGuard{r: r, rc: http.NewResponseController(w), idle: o.idle, rate: o.rate,
		grace: o.grace, win: o.win, tick: tick, start: time.Now()}
	g.last.Store(g.start.UnixNano())
	g.samples = append(g.samples, 0)
	g.timer = time.AfterFunc(time.Hour, g.check)
	g.timer.Reset(tick) // only now: check reads g.timer
	return g
}

// Read reads from the body, reporting a cut-off as its cause.
func (g *bodyGuard) Read(p []byte) (int, error) {
	if c := g.cause.Load(); c != nil {
		return 0, *c
	}
	n, err := g.r.Read(p)
	if c := g.cause.Load(); c != nil {
		// Cut off while this Read waited: its bytes no longer count.
		return 0, *c
	}
	if n > 0 {
		g.n.Add(int64(n))
		g.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// Close closes the body.
func (g *bodyGuard) Close() error { return g.r.Close() }

// stop ends the checks; call it once the body is read.
func (g *bodyGuard) stop() { g.timer.Stop() }

// cut stops the body for cause.
func (g *bodyGuard) cut(cause error) {
	if g.cause.CompareAndSwap(nil, &cause) {
		_ = g.rc.SetReadDeadline(time.Now())
	}
}

func (g *bodyGuard) check() {
	if g.cause.Load() != nil {
		return
	}
	now := time.Now()
	n := g.n.Load()
	if g.idle > 0 && now.Sub(time.Unix(0, g.last.Load())) >= g.idle {
		g.cut(errBodyIdle)
		return
	}
	g.samples = append(g.samples, n)
	keep := int(g.win/g.tick) + 1
	if len(g.samples) > keep {
		g.samples = g.samples[len(g.samples)-keep:]
	}
	if elapsed := now.Sub(g.start); g.rate > 0 && elapsed >= g.grace {
		span := min(elapsed, g.win)
		moved := n - g.samples[0]
		if float64(moved) < float64(g.rate)*span.Seconds() {
			g.cut(errBodyTooSlow)
			return
		}
	}
	g.timer.Reset(g.tick)
}

// fairSlots bounds how many bodies are read at once and shares the slots
// between hosts: when every slot is taken, a host holding fewer slots than
// another by two or more takes one back from that host (its newest upload
// is cut off); otherwise the request is refused as busy. An honest host
// uploads one episode at a time, so it is refused only when as many other
// hosts as there are slots each hold one.
type fairSlots struct {
	mu   sync.Mutex
	cap  int
	n    int
	held map[string][]*slot
}

type slot struct {
	host     string
	preempt  func()
	released bool
}

func newFairSlots(n int) *fairSlots {
	return &fairSlots{cap: max(n, 1), held: map[string][]*slot{}}
}

// acquire takes a slot for host. preempt is called (once, without locks
// held) if the slot is later taken back. It returns ok=false when the
// request must be refused as busy.
func (f *fairSlots) acquire(host string, preempt func()) (release func(), ok bool) {
	f.mu.Lock()
	var victim *slot
	if f.n >= f.cap {
		mine := len(f.held[host])
		top := ""
		for h, s := range f.held {
			if h != host && (top == "" || len(s) > len(f.held[top]) || (len(s) == len(f.held[top]) && h < top)) {
				top = h
			}
		}
		if top == "" || len(f.held[top]) < mine+2 {
			f.mu.Unlock()
			return nil, false
		}
		hs := f.held[top]
		victim = hs[len(hs)-1]
		f.drop(victim)
	}
	s := &slot{host: host, preempt: preempt}
	f.held[host] = append(f.held[host], s)
	f.n++
	f.mu.Unlock()
	if victim != nil && victim.preempt != nil {
		victim.preempt()
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !s.released {
			f.drop(s)
		}
	}, true
}

// drop forgets s; f.mu must be held.
func (f *fairSlots) drop(s *slot) {
	s.released = true
	f.n--
	hs := f.held[s.host]
	for i, x := range hs {
		if x == s {
			hs = append(hs[:i], hs[i+1:]...)
			break
		}
	}
	if len(hs) == 0 {
		delete(f.held, s.host)
	} else {
		f.held[s.host] = hs
	}
}

// reservations is the free space promised to uploads in flight, per host.
// An upload is admitted when its host's own promises, its length and the
// other hosts' promises leave min_free bytes free, where each other host
// counts for at most an equal share of the space above min_free: a host that
// declares a huge length and sends it slowly uses up its own share, never
// the others'.
type reservations struct {
	mu     sync.Mutex
	byHost map[string]int64
}

// reserve promises n bytes to host if free (the file system's free bytes)
// allows it, and returns the function that takes the promise back.
func (rs *reservations) reserve(host string, n, free, minFree int64) (release func(), ok bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.byHost == nil {
		rs.byHost = map[string]int64{}
	}
	avail := free - minFree
	hosts := int64(len(rs.byHost))
	if _, ok := rs.byHost[host]; !ok {
		hosts++
	}
	share := avail / max(hosts, 1)
	need := rs.byHost[host] + n
	for h, r := range rs.byHost {
		if h != host {
			need += min(r, max(share, 0))
		}
	}
	if need > avail {
		return nil, false
	}
	rs.byHost[host] += n
	return func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.byHost[host] -= n; rs.byHost[host] <= 0 {
			delete(rs.byHost, host)
		}
	}, true
}
