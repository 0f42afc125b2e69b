package replicalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"cis490/internal/atomicio"
	"cis490/receiver/datadir"
)

// Status is the replicator's state as `replica status --json` prints it
// (SPEC §17), plus what fleet-health needs to judge the lag without reading
// the index.
type Status struct {
	Pending           int    `json:"pending"`
	PendingBytes      int64  `json:"pending_bytes"`
	OldestPendingAgeS int64  `json:"oldest_pending_age_s"`
	Replicated        int    `json:"replicated"`
	LastError         *Fault `json:"last_error"`
	// OldestPendingAt is the received_at of the oldest episode not yet
	// confirmed ("" when none is pending).
	OldestPendingAt string `json:"oldest_pending_at,omitempty"`
	// UpdatedAt is when the replicator wrote this state.
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Fault is the replicator's most recent failure.
type Fault struct {
	At     string `json:"at"`
	Kind   string `json:"kind"`
	ID     string `json:"id,omitempty"`
	Detail string `json:"detail"`
}

// The status file (replica-status.json) is the running replicator's last
// published state, read by `replica status` and fleet-health; the days file
// (replica-days.json) holds the row counts of the day index objects already
// uploaded.

// WriteStatus durably replaces the status file in dataDir.
func WriteStatus(dataDir string, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return atomicio.WriteFile(datadir.New(dataDir).ReplicaStatus(), append(b, '\n'), 0o640)
}

// ReadStatus reads the status file in dataDir; found is false when the
// replicator never wrote one.
func ReadStatus(dataDir string) (st Status, found bool, err error) {
	b, err := os.ReadFile(datadir.New(dataDir).ReplicaStatus())
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read replica status: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("read replica status: %w", err)
	}
	return st, true, nil
}

// ReadDays reads the row counts of the uploaded day objects (day → rows).
func ReadDays(dataDir string) (map[string]int, error) {
	m := map[string]int{}
	b, err := os.ReadFile(datadir.New(dataDir).ReplicaDays())
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		// The counts only save work: a lost file makes every day be
		// uploaded once more.
		return map[string]int{}, nil
	}
	return m, nil
}

// WriteDays durably replaces the day counts.
func WriteDays(dataDir string, m map[string]int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicio.WriteFile(datadir.New(dataDir).ReplicaDays(), b, 0o640)
}
