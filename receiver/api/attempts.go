package api

import (
	"fmt"
	"net/http"
	"os"
	"sync"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// AttemptsLog appends attempt rows and rotates the file to attempts.jsonl.1
// once it reaches maxBytes. Rows are written before the answer is sent but
// not fsynced: they are diagnostics, and an fsync per attempt would cost
// every upload a disk flush.
type AttemptsLog struct {
	path     string
	rotated  string
	maxBytes int64
	mu       sync.Mutex
	app      *jsonl.Appender
}

// OpenAttemptsLog opens (creating) the attempts log of the data directory l.
func OpenAttemptsLog(l datadir.Layout, maxBytes int64) (*AttemptsLog, error) {
	path := l.Attempts()
	if _, err := jsonl.RepairTorn(path); err != nil {
		return nil, fmt.Errorf("attempts log: %w", err)
	}
	app, err := jsonl.OpenAppender(path)
	if err != nil {
		return nil, err
	}
	return &AttemptsLog{path: path, rotated: l.AttemptsRotated(), maxBytes: maxBytes, app: app}, nil
}

// Append writes one row, rotating first when the file is full.
func (l *AttemptsLog) Append(a index.Attempt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxBytes > 0 && l.app.Size() >= l.maxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	return l.app.AppendUnsynced(a)
}

func (l *AttemptsLog) rotate() error {
	if err := l.app.Close(); err != nil {
		return err
	}
	if err := os.Rename(l.path, l.rotated); err != nil {
		return fmt.Errorf("rotate %s: %w", l.path, err)
	}
	app, err := jsonl.OpenAppender(l.path)
	if err != nil {
		return err
	}
	l.app = app
	return nil
}

// Close closes the log.
func (l *AttemptsLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.app.Close()
}

// record appends an attempt row stamped now; a failure is logged, never
// turned into a refusal.
func (h *Handler) record(a index.Attempt) {
	if h.o.Attempts == nil {
		return
	}
	a.TS = wire.FormatTime(h.o.Now())
	if err := h.o.Attempts.Append(a); err != nil {
		h.log.Error("attempts log", "error", err)
	}
}

// agent is the request's User-Agent for the attempts row ("cis490-shipper/
// <version>" from a shipper; SPEC §16), truncated to 64 characters.
func agent(r *http.Request) string { return truncate(r.Header.Get("User-Agent"), 64) }
