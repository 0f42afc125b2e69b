package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"cis490/internal/sdnotify"
	"cis490/shipper/queue"
)

// runDaemon runs the shipper until ctx ends (SIGTERM): one pass every
// scan_interval_s; during a backoff the passes scan but do not upload.
func (c *cli) runDaemon(ctx context.Context, getenv func(string) string) int {
	q, client, unlock, code, ok := c.openQueue()
	if !ok {
		return code
	}
	defer unlock()
	d := newDaemon(q, sdnotify.New(getenv), c.log, time.Duration(c.cfg.Shipper.ScanIntervalS)*time.Second)
	d.watchdogEvery = sdnotify.WatchdogInterval(getenv) / 2
	q.Progress = d // the one progress hook: packing, sending, awaiting, retiring
	c.log.Info("shipper started", "host", c.cfg.HostID, "data_dir", c.cfg.Paths.DataDir,
		"receiver", client.URL(), "watchdog_every", d.watchdogEvery)
	d.run(ctx)
	c.log.Info("shipper stopped")
	return exitOK
}

// daemon is the shipper's main loop and its systemd conversation (SPEC
// §8.1). The watchdog pings only while work moves: a pass completed, pack
// or upload bytes moved, the answer to a fully sent upload is within its
// allowance, or the loop is idle between passes.
type daemon struct {
	q         *queue.Queue
	notify    *sdnotify.Notifier
	log       *slog.Logger
	scanEvery time.Duration
	// watchdogEvery is half of WatchdogSec; 0 turns the watchdog off.
	watchdogEvery time.Duration

	// Injected in tests: the watchdog's ticker, the wait between passes,
	// the clock, and a hook told after each watchdog tick whether it pinged.
	newTicker func(time.Duration) (<-chan time.Time, func())
	after     func(time.Duration) <-chan time.Time
	now       func() time.Time
	onTick    func(pinged bool)

	moves      atomic.Int64 // progress counter
	awaitUntil atomic.Int64 // unix nanoseconds
	idle       atomic.Bool

	shipped, quarantined int
	lastError            string
}

func newDaemon(q *queue.Queue, n *sdnotify.Notifier, log *slog.Logger, scanEvery time.Duration) *daemon {
	d := &daemon{q: q, notify: n, log: log, scanEvery: max(scanEvery, time.Second), now: time.Now}
	d.newTicker = func(every time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(every)
		return t.C, t.Stop
	}
	d.after = time.After
	return d
}

// Moved records progress for the watchdog (transport.Progress).
func (d *daemon) Moved(int64) { d.moves.Add(1) }

// Awaiting records that an upload's body is sent and its answer may take
// until the given instant (SPEC §13; transport.Progress).
func (d *daemon) Awaiting(until time.Time) {
	d.awaitUntil.Store(until.UnixNano())
	d.Moved(0)
}

func (d *daemon) send(state string) {
	if err := d.notify.Notify(state); err != nil {
		d.log.Warn("sd_notify failed", "state", state, "error", err)
	}
}

// run sends READY=1, then passes until ctx ends; STOPPING=1 goes out the
// moment ctx ends, and the running pass is cancelled with it, so the upload
// stops at once and leaves only outbox files.
func (d *daemon) run(ctx context.Context) {
	d.send(sdnotify.Ready)
	stopNotify := context.AfterFunc(ctx, func() { d.send(sdnotify.Stopping) })
	defer func() {
		// run returns only once ctx is done; if the loop noticed that before
		// the AfterFunc was started, stopping it means sending here.
		if stopNotify() {
			d.send(sdnotify.Stopping)
		}
	}()

	var wg sync.WaitGroup
	wdDone := make(chan struct{})
	if d.watchdogEvery > 0 {
		tick, stop := d.newTicker(d.watchdogEvery)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer stop()
			d.watchdog(tick, wdDone)
		}()
	}
	defer func() {
		close(wdDone)
		wg.Wait()
	}()

	for {
		d.idle.Store(false)
		res, err := d.q.Pass(ctx)
		if ctx.Err() != nil {
			return
		}
		d.Moved(0)
		d.shipped += res.Shipped + res.Duplicates
		d.quarantined += res.Quarantined
		if err != nil {
			d.log.Error("pass failed", "error", err)
			res.LastError = err.Error()
		}
		if res.LastError != "" {
			d.lastError = res.LastError
		}
		d.send(sdnotify.Status(d.status(res)))
		// Backoff is the queue's business: a pass during it only scans, so
		// new episodes are still noticed within scan_interval_s.
		d.idle.Store(true)
		select {
		case <-ctx.Done():
			return
		case <-d.after(d.scanEvery):
		}
	}
}

// status is the one-line STATUS= summary.
func (d *daemon) status(res queue.Result) string {
	s := fmt.Sprintf("pending %d, shipped %d, quarantined %d since start", res.Pending, d.shipped, d.quarantined)
	if res.RetryIn > 0 {
		s += fmt.Sprintf(", retry in %s", res.RetryIn)
	}
	if d.lastError != "" {
		s += "; last error: " + d.lastError
	}
	return s
}

// watchdog sends WATCHDOG=1 on a tick only when progress happened since the
// previous tick; a stalled pass stops the pings and systemd restarts us.
func (d *daemon) watchdog(tick <-chan time.Time, done <-chan struct{}) {
	last := d.moves.Load()
	for {
		select {
		case <-done:
			return
		case <-tick:
		}
		cur := d.moves.Load()
		alive := cur != last || d.idle.Load() || d.now().UnixNano() < d.awaitUntil.Load()
		last = cur
		if alive {
			d.send(sdnotify.Watchdog)
		}
		if d.onTick != nil {
			d.onTick(alive)
		}
	}
}
