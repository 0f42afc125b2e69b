package replica

import (
	"fmt"
	"io"
	"sort"
	"time"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/replicalog"
)

// Status returns the replicator's state now (SPEC §17).
func (r *Replicator) Status() replicalog.Status {
	now := r.o.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := replicalog.Status{Pending: len(r.pending), Replicated: len(r.replicated), LastError: r.lastErr,
		UpdatedAt: wire.FormatTime(now)}
	var oldest time.Time
	for _, it := range r.pending {
		st.PendingBytes += it.row.Bytes
		if t, err := wire.ParseTime(it.row.ReceivedAt); err == nil && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	}
	if !oldest.IsZero() {
		st.OldestPendingAt = wire.FormatTime(oldest)
		st.OldestPendingAgeS = max(int64(now.Sub(oldest)/time.Second), 0)
	}
	return st
}

// writeStatus publishes the state for `replica status` and fleet-health
// when it changed (or its age figure moved on).
func (r *Replicator) writeStatus() {
	r.mu.Lock()
	dirty := r.statusDirt || len(r.pending) > 0
	r.statusDirt = false
	r.mu.Unlock()
	if !dirty {
		return
	}
	if err := replicalog.WriteStatus(r.o.DataDir, r.Status()); err != nil {
		r.log.Warn("could not write the replica status", "error", err)
	}
}

// WriteMetrics writes the replication series of /metrics (Prometheus text).
func (r *Replicator) WriteMetrics(w io.Writer) {
	st := r.Status()
	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("cis490_replica_pending_episodes", "gauge", "Stored episodes the bucket has not confirmed yet.")
	fmt.Fprintf(w, "cis490_replica_pending_episodes %d\n", st.Pending)
	metric("cis490_replica_pending_bytes", "gauge", "Bytes of the episodes not replicated yet.")
	fmt.Fprintf(w, "cis490_replica_pending_bytes %d\n", st.PendingBytes)
	metric("cis490_replica_oldest_pending_age_seconds", "gauge", "Age of the oldest episode not replicated yet (0: none).")
	fmt.Fprintf(w, "cis490_replica_oldest_pending_age_seconds %d\n", st.OldestPendingAgeS)
	metric("cis490_replica_replicated_total", "counter", "Episodes the bucket confirmed (replica.jsonl rows).")
	fmt.Fprintf(w, "cis490_replica_replicated_total %d\n", st.Replicated)
	metric("cis490_replica_errors_total", "counter", "Failed replication attempts since start, by kind.")
	r.mu.Lock()
	kinds := make([]string, 0, len(r.errCount))
	for k := range r.errCount {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "cis490_replica_errors_total{kind=%q} %d\n", k, r.errCount[k])
	}
	r.mu.Unlock()
	metric("cis490_replica_last_error_timestamp_seconds", "gauge", "Time of the last replication failure (0: none).")
	var at int64
	if st.LastError != nil {
		if t, err := wire.ParseTime(st.LastError.At); err == nil {
			at = t.Unix()
		}
	}
	fmt.Fprintf(w, "cis490_replica_last_error_timestamp_seconds %d\n", at)
}

// DiskStatus computes the state of replication from the data directory
// alone (index.jsonl against replica.jsonl), for `replica status` whether
// or not the receiver runs; the last error comes from the status file the
// running replicator keeps.
func DiskStatus(dataDir string, now time.Time) (replicalog.Status, error) {
	var st replicalog.Status
	replicated, err := replicalog.Set(dataDir)
	if err != nil {
		return st, err
	}
	seen := map[string]bool{}
	var oldest time.Time
	_, err = scanIndex(dataDir, func(r index.Row, _ []byte) {
		if seen[r.ID] {
			return
		}
		seen[r.ID] = true
		if _, ok := replicated[r.ID]; ok {
			st.Replicated++
			return
		}
		st.Pending++
		st.PendingBytes += r.Bytes
		if t, err := wire.ParseTime(r.ReceivedAt); err == nil && (oldest.IsZero() || t.Before(oldest)) {
			oldest = t
		}
	})
	if err != nil {
		return st, err
	}
	if !oldest.IsZero() {
		st.OldestPendingAt = wire.FormatTime(oldest)
		st.OldestPendingAgeS = max(int64(now.Sub(oldest)/time.Second), 0)
	}
	if saved, ok, err := replicalog.ReadStatus(dataDir); err == nil && ok {
		st.LastError = saved.LastError
		st.UpdatedAt = saved.UpdatedAt
	}
	return st, nil
}
