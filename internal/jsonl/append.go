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

	"cis490/internal/atomicio"
)

// ErrBroken is returned by every Append after a failed fsync: the page cache
// state is then unknown, so the appender refuses to claim durability again
// until the process restarts and repairs the file.
var ErrBroken = errors.New("appender broken by an earlier fsync failure")

// Appender appends lines to one file and makes them durable. Concurrent
// Appends share fsyncs: one fsync covers every line written before it began,
// and no Append returns before its own line is on stable storage.
type Appender struct {
	path string

	mu     sync.Mutex // guards f writes, size, broken
	f      *os.File
	size   int64
	broken error

	sync *atomicio.GroupSyncer // shares fsyncs between concurrent Appends
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
	return &Appender{path: path, f: f, size: st.Size(), sync: atomicio.NewStickyGroupSyncer(f)}, nil
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
	off, err := a.write(append(line, '\n'))
	if err != nil {
		return 0, err
	}
	return off, a.syncLines()
}

// AppendLine writes line (which must end in '\n' and hold no other newline)
// and returns once it is fsynced.
func (a *Appender) AppendLine(line []byte) error {
	_, err := a.AppendLineAt(line)
	return err
}

// AppendLineAt is AppendLine that also returns the line's offset.
func (a *Appender) AppendLineAt(line []byte) (offset int64, err error) {
	off, err := a.write(line)
	if err != nil {
		return 0, err
	}
	return off, a.syncLines()
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
// failed fsync breaks the appender for good (ErrBroken).
func (a *Appender) syncLines() error {
	a.mu.Lock()
	broken := a.broken
	a.mu.Unlock()
	if broken != nil {
		return broken
	}
	if err := a.sync.Sync(); err != nil {
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
