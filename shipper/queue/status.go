package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cis490/internal/wire"
)

// Status is the local queue summary of `cis490-shipper status` (SPEC §13).
type Status struct {
	Pending           int   `json:"pending"`
	OldestPendingAgeS int64 `json:"oldest_pending_age_s"`
	Outbox            int   `json:"outbox"`
	Quarantined       int   `json:"quarantined"`
	Shipped           int   `json:"shipped"`
}

// ReadStatus counts the queue without changing it; missing directories count
// as empty. A pending episode's age runs from its meta.json mtime, or from
// its directory's mtime while meta.json is not written yet.
func ReadStatus(d Dirs, now time.Time) (Status, error) {
	var s Status
	ents, err := readDirOrEmpty(d.Episodes)
	if err != nil {
		return s, err
	}
	var oldest time.Time
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.IsDir() || !wire.ValidID(name) {
			continue
		}
		s.Pending++
		fi, err := os.Stat(filepath.Join(d.Episodes, name, "meta.json"))
		if err != nil {
			fi, err = e.Info()
		}
		if err == nil && (oldest.IsZero() || fi.ModTime().Before(oldest)) {
			oldest = fi.ModTime()
		}
	}
	if !oldest.IsZero() {
		s.OldestPendingAgeS = max(int64(now.Sub(oldest)/time.Second), 0)
	}
	out, err := readDirOrEmpty(d.Outbox)
	if err != nil {
		return s, err
	}
	for _, e := range out {
		if strings.HasSuffix(e.Name(), wire.EpisodeSuffix) {
			s.Outbox++
		}
	}
	q, err := readDirOrEmpty(d.Quarantine)
	if err != nil {
		return s, err
	}
	s.Quarantined = len(q)
	sh, err := readDirOrEmpty(d.Shipped)
	if err != nil {
		return s, err
	}
	s.Shipped = len(sh)
	return s, nil
}

func readDirOrEmpty(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return ents, nil
}
