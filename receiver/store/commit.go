package store

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"cis490/internal/index"
	"cis490/internal/jsonl"
)

// committer makes the links and index rows of concurrent ingests durable
// together (SPEC §4.2): one fsync of store/ covers every file linked before
// it began, then one index fsync covers all their rows. It never lets a
// caller return before its own link and row are on stable storage, and a
// row is written only after the fsync of the directory holding its link.
//
// There is no goroutine of its own: the first caller leads, flushes the
// queue and hands the lead to the oldest caller that queued meanwhile, so
// nobody waits for batches after its own.
type committer struct {
	dir   *os.File
	index *jsonl.Appender

	mu    sync.Mutex // guards queue and busy
	queue []*commitReq
	busy  bool // a leader is flushing
}

type commitReq struct {
	row  index.Row
	done chan error // one result; errLead first if the caller must lead
}

// errLead tells a queued caller that it leads the next flush.
var errLead = errors.New("lead the next flush")

// commit makes row's link (already made in dir) and row durable.
func (c *committer) commit(row index.Row) error {
	req := &commitReq{row: row, done: make(chan error, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, req)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if !lead {
		if err := <-req.done; err != errLead {
			return err
		}
	}
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	c.flush(batch)
	c.mu.Lock()
	if len(c.queue) > 0 {
		c.queue[0].done <- errLead
	} else {
		c.busy = false
	}
	c.mu.Unlock()
	return <-req.done
}

// flush syncs the directory, appends the batch's rows and syncs the index,
// then answers every request.
func (c *committer) flush(batch []*commitReq) {
	if err := c.dir.Sync(); err != nil {
		err = fmt.Errorf("fsync store dir: %w", err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	errs := make([]error, len(batch))
	last := len(batch) - 1
	for i, r := range batch[:last] {
		errs[i] = c.index.AppendUnsynced(r.row)
	}
	// The last Append's fsync covers every line written before it.
	if err := c.index.Append(batch[last].row); err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}
