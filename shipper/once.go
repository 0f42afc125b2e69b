package main

import (
	"context"
	"errors"
	"fmt"

	"cis490/internal/queuedir"
	"cis490/internal/transport"
	"cis490/shipper/queue"
)

// openQueue prepares data_dir, takes the shipper lock and builds the queue
// with its receiver client. On failure it returns the exit code, already
// reported.
func (c *cli) openQueue() (q *queue.Queue, client *transport.Client, unlock func(), code int, ok bool) {
	dirs := queuedir.New(c.cfg.Paths.DataDir)
	if err := dirs.Ensure(); err != nil {
		return nil, nil, nil, c.fail(exitFailure, "io", err), false
	}
	unlock, err := lockDataDir(dirs.Root)
	if errors.Is(err, errLocked) {
		return nil, nil, nil, c.fail(exitUsage, "locked", err), false
	}
	if err != nil {
		return nil, nil, nil, c.fail(exitFailure, "io", err), false
	}
	client, err = transport.New(c.cfg.Receiver, c.cfg.HostID, c.log)
	if err != nil {
		unlock()
		return nil, nil, nil, c.fail(exitUsage, "config", err), false
	}
	q = &queue.Queue{Dirs: dirs, Cfg: c.cfg.Shipper, Up: client, Log: c.log, HeadFirst: true}
	return q, client, unlock, 0, true
}

// runOnce runs one full pass, cleanup included, and exits 3 when anything
// was quarantined, else 1 when transient or credential failures remain
// (SPEC §13).
func (c *cli) runOnce(ctx context.Context) int {
	q, _, unlock, code, ok := c.openQueue()
	if !ok {
		return code
	}
	defer unlock()
	res, err := q.Pass(ctx)
	if err != nil {
		return c.fail(exitFailure, "io", err)
	}
	if c.json {
		c.printJSON(res)
	} else {
		fmt.Fprintf(c.stdout, "shipped %d, duplicates %d, quarantined %d, transient %d, pending %d\n",
			res.Shipped, res.Duplicates, res.Quarantined, res.Transient, res.Pending)
	}
	return onceExit(res)
}

func onceExit(res queue.Result) int {
	switch {
	case res.Quarantined > 0:
		return exitQuarantined
	case res.Transient > 0:
		return exitFailure
	}
	return exitOK
}
