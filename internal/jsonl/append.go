// Package jsonl reads and appends newline-delimited JSON files durably: the
// index, the attempts log and the alerts log. Writers append whole lines and
// fsync; readers skip a torn last line (one without its newline).
package jsonl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrBroken is returned by every Append after a failed fsync: the page cache
// state is then unknown, so the appender refuses to claim durability again
// until the process restarts and repairs the file.
var ErrBroken = errors.New("appender broken by an earlier fsync failure")

// Appender appends lines to one file and makes them durable. Concurrent
// Appends are committed in groups: while one group is written and fsynced,
// the lines that arrive wait in memory, and the next group takes them all
// in one write and one fsync. No Append returns before its own line is on
// stable storage. Lines never wait in write(2) behind an fsync in flight,
// which some file systems (FUSE) let hold the file's lock for the whole
// device flush.
type Appender struct {
	path string

	mu     sync.Mutex // guards f writes, size, broken
	f      *os.File
	size   int64
	broken error

	// fsync makes the file durable; tests wrap it to hold a group.
	fsync func() error

	qmu     sync.Mutex // guards queue, leading, coming
	queue   []*waiter
	leading bool   // a group is being committed
	buf     []byte // the group's lines, reused by whoever leads
	// coming counts the lines announced with Expect and not yet queued or
	// given up, by the parity of the epoch they were announced in. A leader
	// closes the open epoch and takes its group once that epoch's count is
	// zero; lines announced meanwhile are the next leader's to wait for, so
	// a steady stream of them cannot hold a group back.
	coming  [2]int
	epoch   int
	arrived *sync.Cond // on qmu: an epoch's count fell to zero
}

// Expected is a line announced with Expect.
type Expected struct {
	a     *Appender
	epoch int
	done  bool // queued or given up; guarded by a.qmu
}

// Expect announces a line that is about to be appended with no wait on
// the disk before it (the caller's own flush has just ended), so the next
// group waits for it instead of leaving it for the group after: lines whose
// flushes ended together are then committed together, which matters where
// the index's fsyncs cannot overlap (FUSE holds the file's lock through
// each). The line must follow with AppendLineExpectedAt, or the
// announcement be given up with Cancel: until then, the next group waits.
func (a *Appender) Expect() *Expected {
	a.qmu.Lock()
	defer a.qmu.Unlock()
	a.coming[a.epoch&1]++
	return &Expected{a: a, epoch: a.epoch}
}

// Cancel gives up an announced line; it is a no-op once the line was
// queued or given up, and on nil.
func (e *Expected) Cancel() {
	if e == nil {
		return
	}
	e.a.qmu.Lock()
	e.settleLocked()
	e.a.qmu.Unlock()
}

func (e *Expected) settleLocked() {
	if e.done {
		return
	}
	e.done = true
	if e.a.coming[e.epoch&1]--; e.a.coming[e.epoch&1] == 0 {
		e.a.arrived.Broadcast()
	}
}

// waiter is one line waiting for its group's commit.
type waiter struct {
	line []byte
	off  int64
	err  error
	// done gets true when the waiter is to commit the next group itself,
	// false when its line was committed (or failed: err).
	done chan bool
}

// OpenAppender opens (creating with mode 0640) path for appending. A torn
// last line must have been repaired first (see RepairTorn).
func OpenAppender(path string) (*Appender, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	a := &Appender{path: path, f: f, size: st.Size(), fsync: f.Sync}
	a.arrived = sync.NewCond(&a.qmu)
	return a, nil
}

// Path returns the file's path.
func (a *Appender) Path() string { return a.path }

// Size returns the file's current length in bytes.
func (a *Appender) Size() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.size
}

// Append marshals v as one JSON line, writes it and returns once it is
// fsynced.
func (a *Appender) Append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("append %s: %w", a.path, err)
	}
	return a.AppendLine(append(line, '\n'))
}

// AppendUnsynced marshals v as one JSON line and writes it without waiting
// for an fsync: the line survives a crash of the process but not of the
// machine. For diagnostic logs whose loss costs no data.
func (a *Appender) AppendUnsynced(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("append %s: %w", a.path, err)
	}
	_, err = a.write(append(line, '\n'))
	return err
}

// AppendAt is Append that also returns the byte offset at which the line
// starts, so a reader can find it again without a scan.
func (a *Appender) AppendAt(v any) (offset int64, err error) {
	line, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("append %s: %w", a.path, err)
	}
	return a.commit(append(line, '\n'), nil)
}

// AppendLineExpectedAt is AppendLineAt for a line announced with Expect.
func (a *Appender) AppendLineExpectedAt(line []byte, e *Expected) (offset int64, err error) {
	return a.commit(line, e)
}

// AppendLine writes line (which must end in '\n' and hold no other newline)
// and returns once it is fsynced.
func (a *Appender) AppendLine(line []byte) error {
	_, err := a.AppendLineAt(line)
	return err
}

// AppendLineAt is AppendLine that also returns the line's offset.
func (a *Appender) AppendLineAt(line []byte) (offset int64, err error) {
	return a.commit(line, nil)
}

// commit queues line (announced as e, if not nil) and returns its offset
// once it is durable. The first caller to find no group in progress leads:
// it waits for the lines announced (Expect), takes the queue, commits it,
// and hands the lead to the first line queued meanwhile.
func (a *Appender) commit(line []byte, e *Expected) (int64, error) {
	w := &waiter{line: line, done: make(chan bool, 1)}
	a.qmu.Lock()
	a.queue = append(a.queue, w)
	if e != nil {
		e.settleLocked()
	}
	lead := !a.leading
	a.leading = true
	a.qmu.Unlock()
	if !lead && !<-w.done {
		return w.off, w.err
	}
	a.qmu.Lock()
	closed := a.epoch
	a.epoch++
	for a.coming[closed&1] > 0 {
		a.arrived.Wait()
	}
	group := a.queue
	a.queue = nil
	a.qmu.Unlock()
	a.commitGroup(group)
	// The next leader first, so its group's write and fsync start at once.
	a.qmu.Lock()
	if len(a.queue) == 0 {
		a.leading = false
	} else {
		a.queue[0].done <- true
	}
	a.qmu.Unlock()
	for _, o := range group {
		if o != w {
			o.done <- false
		}
	}
	return w.off, w.err
}

// commitGroup writes the group's lines with one write and fsyncs them,
// setting every waiter's offset or error.
func (a *Appender) commitGroup(group []*waiter) {
	a.buf = a.buf[:0]
	for _, w := range group {
		a.buf = append(a.buf, w.line...)
	}
	off, err := a.write(a.buf)
	if err == nil {
		err = a.syncLines()
	}
	for _, w := range group {
		w.off, w.err = off, err
		off += int64(len(w.line))
	}
	if cap(a.buf) > 1<<20 {
		a.buf = nil // one burst of long lines does not pin its buffer
	}
}

// write appends line and returns the offset at which it starts.
func (a *Appender) write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken != nil {
		return 0, a.broken
	}
	n, err := a.f.Write(line)
	if err != nil {
		// Cut a partial line off again so the next row is not glued to it.
		if n > 0 {
			if terr := a.f.Truncate(a.size); terr != nil {
				a.broken = fmt.Errorf("append %s: %w", a.path, ErrBroken)
			}
		}
		return 0, fmt.Errorf("append %s: %w", a.path, err)
	}
	off := a.size
	a.size += int64(n)
	return off, nil
}

// syncLines returns once every line written before the call is fsynced. A
// failed fsync breaks the appender for good (ErrBroken): the page cache
// state is unknown after it, and a retried fsync can succeed without the
// lost writes ever reaching the disk.
func (a *Appender) syncLines() error {
	a.mu.Lock()
	broken := a.broken
	a.mu.Unlock()
	if broken != nil {
		return broken
	}
	if err := a.fsync(); err != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.broken == nil {
			a.broken = fmt.Errorf("fsync %s: %v: %w", a.path, err, ErrBroken)
		}
		return a.broken
	}
	return nil
}

// Close closes the file.
func (a *Appender) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}
