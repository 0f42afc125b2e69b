package replica

import (
	"context"
	"time"

	"cis490/internal/wire"
	"cis490/receiver/replicalog"
)

// tier removes the local copies of episodes the bucket confirmed more than
// local_keep_days ago, through the store (which checks the digest under the
// id's lock). Each pass offers every old enough row again; an id already
// removed costs the store one lstat.
func (r *Replicator) tier(ctx context.Context, now time.Time) {
	cutoff := now.Add(-time.Duration(r.o.Config.LocalKeepDays) * 24 * time.Hour)
	var due []replicalog.Row
	err := replicalog.ReadFile(r.o.DataDir, func(row replicalog.Row) {
		at, err := wire.ParseTime(row.At)
		if err != nil || !at.Before(cutoff) {
			return
		}
		due = append(due, row)
	})
	if err != nil {
		r.fail(nil, KindLocal, err)
		return
	}
	removed := 0
	for _, row := range due {
		if ctx.Err() != nil {
			return
		}
		ok, err := r.o.Store.Tier(ctx, row.ID, row.SHA256)
		if err != nil {
			r.log.Warn("could not remove a replicated local copy", "id", row.ID, "error", err)
			continue
		}
		if ok {
			removed++
		}
	}
	if removed > 0 {
		r.log.Info("removed local copies kept in the bucket", "episodes", removed, "local_keep_days", r.o.Config.LocalKeepDays)
	}
}
