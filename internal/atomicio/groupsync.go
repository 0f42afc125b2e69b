package atomicio

import (
	"os"
	"sync"
)

// GroupSyncer shares fsyncs of one file or directory between concurrent
// callers: Sync returns once an fsync that began after the call started has
// completed, and callers that arrive while an fsync runs share the next one.
type GroupSyncer struct {
	f *os.File

	mu      sync.Mutex // guards tickets
	tickets uint64

	syncMu sync.Mutex // serialises fsyncs; guards synced and failed
	synced uint64
	sticky bool  // a failed fsync fails every later Sync
	failed error // the first failed fsync, when sticky
}

// NewGroupSyncer returns a GroupSyncer for f, which it does not close.
func NewGroupSyncer(f *os.File) *GroupSyncer { return &GroupSyncer{f: f} }

// NewStickyGroupSyncer is NewGroupSyncer for a file whose page cache state
// is unknown after a failed fsync: once one fails, every later Sync returns
// that error instead of trying again (a retried fsync can succeed without
// the lost writes ever reaching the disk).
func NewStickyGroupSyncer(f *os.File) *GroupSyncer { return &GroupSyncer{f: f, sticky: true} }

// Sync makes every change made before the call durable.
func (g *GroupSyncer) Sync() error {
	g.mu.Lock()
	g.tickets++
	mine := g.tickets
	g.mu.Unlock()

	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	if g.failed != nil {
		return g.failed
	}
	if g.synced >= mine {
		return nil
	}
	g.mu.Lock()
	target := g.tickets
	g.mu.Unlock()
	if err := g.f.Sync(); err != nil {
		if g.sticky {
			g.failed = err
		}
		return err
	}
	g.synced = target
	return nil
}
