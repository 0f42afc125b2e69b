package queue

import (
	"time"

	"cis490/internal/census"
	"cis490/internal/queuedir"
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
// as empty. Pending is every episode not yet shipped, ready or still being
// written; its age runs from meta.json's mtime, or from the directory's
// while meta.json is not written yet.
func ReadStatus(d queuedir.Layout, now time.Time) (Status, error) {
	var s Status
	eps, err := census.CountEpisodes(d.Episodes)
	if err != nil {
		return s, err
	}
	s.Pending = eps.Ready + eps.Writing
	if oldest := census.Older(eps.OldestReady, eps.OldestWriting); !oldest.IsZero() {
		s.OldestPendingAgeS = max(int64(now.Sub(oldest)/time.Second), 0)
	}
	if s.Outbox, err = census.CountOutbox(d.Outbox); err != nil {
		return s, err
	}
	q, err := census.ReadDir(d.Quarantine)
	if err != nil {
		return s, err
	}
	s.Quarantined = len(q)
	sh, err := census.ReadDir(d.Shipped)
	if err != nil {
		return s, err
	}
	s.Shipped = len(sh)
	return s, nil
}
