package torture

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// receiverCtl runs the receiver and restarts it with kill -9. Restarts are
// serialised; each new receiver listens on a fresh port, which the proxy
// learns from its READY=1 status.
type receiverCtl struct {
	bin, dataDir, logPath string
	cfgNormal, cfgFull    string
	proxy                 *faultProxy

	mu         sync.Mutex
	cur        *proc
	full       bool
	kills      atomic.Int64
	unexpected atomic.Int64 // exits nobody asked for
}

// restart kill -9s the running receiver, if any, and starts a new one,
// with a huge min_free_bytes when full is set.
func (r *receiverCtl) restart(ctx context.Context, full bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		select {
		case <-r.cur.done:
			r.unexpected.Add(1)
		default:
			r.cur.kill()
			r.kills.Add(1)
		}
		r.cur = nil
	}
	r.full = full
	cfg := r.cfgNormal
	if full {
		cfg = r.cfgFull
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, status, err := startProc(sctx, "receiver", r.logPath, nil, true, r.bin, "serve", "--config", cfg)
	if err != nil {
		return err
	}
	addr, ok := strings.CutPrefix(status, "listening on ")
	if !ok {
		p.kill()
		return fmt.Errorf("receiver STATUS %q names no address", status)
	}
	r.proxy.setUpstream(addr)
	r.cur = p
	return nil
}

func (r *receiverCtl) isFull() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.full
}

func (r *receiverCtl) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return false
	}
	select {
	case <-r.cur.done:
		return false
	default:
		return true
	}
}

// stop stops the receiver with SIGTERM and reports whether it exited 0
// within the grace period.
func (r *receiverCtl) stop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return true
	}
	p := r.cur
	r.cur = nil
	return p.stop(15*time.Second) && p.exitCode() == 0
}

// stopNow is the cleanup: stop whatever still runs.
func (r *receiverCtl) stopNow() { r.stop() }

// shipperHost is one simulated lab host: a data directory, a config, and
// either a daemon (restarted after every kill, like systemd's
// Restart=on-failure) or a loop of --once runs (like a timer).
type shipperHost struct {
	id, dir, cfg, log string
	daemon            bool

	mu     sync.Mutex
	cur    *proc
	killed bool // the current process was killed on purpose

	onceRuns   atomic.Int64
	unexpected atomic.Int64 // daemon exits, or --once exit codes, nobody asked for
}

// supervise keeps the host's shipper running until ctx ends, then stops it
// with SIGTERM.
func (s *shipperHost) supervise(ctx context.Context, h *harness) {
	bin := filepath.Join(h.bin, "cis490-shipper")
	for ctx.Err() == nil {
		var p *proc
		var err error
		if s.daemon {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			p, _, err = startProc(sctx, s.id, s.log, nil, true, bin, "--config", s.cfg)
			cancel()
		} else {
			p, _, err = startProc(ctx, s.id, s.log, nil, false, bin, "--once", "--json", "--config", s.cfg)
			s.onceRuns.Add(1)
		}
		if err != nil {
			if ctx.Err() == nil {
				h.fail("%s: start: %v", s.id, err)
			}
			return
		}
		s.mu.Lock()
		s.cur, s.killed = p, false
		s.mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			if !p.stop(15 * time.Second) {
				h.fail("%s: did not stop within 15 s of SIGTERM", s.id)
			}
			return
		}
		s.mu.Lock()
		killed := s.killed
		s.cur = nil
		s.mu.Unlock()
		// --once exits 0, 1 (transient failures left) or 3 (quarantined
		// something); a daemon only exits when told to.
		if code := p.exitCode(); !killed && (s.daemon || (code != 0 && code != 1 && code != 3)) {
			s.unexpected.Add(1)
			h.fail("%s: exited by itself with code %d (%v); see %s", s.id, code, p.Err(), s.log)
		}
		// The pause before the next start: systemd's RestartSec for a
		// daemon, the timer's period for --once.
		if !sleepUntil(ctx, time.Now().Add(time.Second)) {
			return
		}
	}
}

// kill kill -9s the host's running shipper; it reports whether one ran.
func (s *shipperHost) kill() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return false
	}
	select {
	case <-s.cur.done:
		return false
	default:
	}
	s.killed = true
	s.cur.kill()
	return true
}
