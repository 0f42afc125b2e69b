package queue

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// cleanupDue reports whether retention should walk shipped/ and quarantine/
// in this pass: enabled, and not run within quarantine_cleanup_interval_s.
func (q *Queue) cleanupDue() bool {
	if q.Cfg.QuarantineKeepDays <= 0 && q.Cfg.ShippedKeepDays <= 0 {
		return false
	}
	interval := time.Duration(q.Cfg.QuarantineCleanupIntervalS) * time.Second
	return q.lastCleanup.IsZero() || q.now().Sub(q.lastCleanup) >= interval
}

const day = 24 * time.Hour

// cleanup removes quarantine entries older than quarantine_keep_days
// (dated by their reason's "at", else the directory mtime) and shipped
// entries older than shipped_keep_days (dated by the directory mtime, set at
// retirement).
func (q *Queue) cleanup(ctx context.Context) {
	now := q.now()
	q.lastCleanup = now
	if k := q.Cfg.QuarantineKeepDays; k > 0 {
		q.expire(ctx, q.Dirs.Quarantine, now.Add(-time.Duration(k)*day), func(dir string, fi fs.FileInfo) time.Time {
			if at, err := queuedir.QuarantinedAt(dir); err == nil {
				return at
			}
			return fi.ModTime()
		})
	}
	if k := q.Cfg.ShippedKeepDays; k > 0 {
		q.expire(ctx, q.Dirs.Shipped, now.Add(-time.Duration(k)*day), func(_ string, fi fs.FileInfo) time.Time {
			return fi.ModTime()
		})
	}
}

func (q *Queue) expire(ctx context.Context, root string, cutoff time.Time, age func(string, fs.FileInfo) time.Time) {
	ents, err := os.ReadDir(root)
	if err != nil {
		q.log().Error("retention: listing failed", "dir", root, "error", err)
		return
	}
	for _, e := range ents {
		if ctx.Err() != nil {
			return
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		dir := filepath.Join(root, e.Name())
		at := age(dir, fi)
		if !at.Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			q.log().Error("retention: removing failed", "dir", dir, "error", err)
			continue
		}
		q.progress()
		q.log().Info("retention: removed", "dir", dir, "since", wire.FormatTime(at))
	}
}
