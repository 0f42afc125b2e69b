package fleethealth

import (
	"encoding/json"
	"fmt"
	"time"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/hosthealth"
)

// alertRow is one line of alerts.jsonl, fields in their documented order.
type alertRow struct {
	TS      string `json:"ts"`
	Host    string `json:"host"`
	Symptom string `json:"symptom"`
	Detail  string `json:"detail"`
	Bucket  string `json:"bucket"`
}

// scanTail calls visit for the lines of path from the newest back. visit
// returns the row's time and whether it had one; the scan stops at the first
// timed row older than stop. It reports whether it read the whole file.
func scanTail(path string, stop time.Time, visit func(line []byte) (time.Time, bool)) (whole bool, err error) {
	whole = true
	err = jsonl.ScanBackward(path, func(line []byte) error {
		ts, ok := visit(line)
		if ok && ts.Before(stop) {
			whole = false
			return jsonl.ErrStop
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return whole, nil
}

// readIndex calls fn with the host and time of every index row received at
// or after stop, newest first. Backfilled rows are skipped: their time is
// when they were re-indexed, not an upload by the host.
func readIndex(dataDir string, stop time.Time, fn func(host string, at time.Time)) error {
	_, err := scanTail(datadir.New(dataDir).Index(), stop, func(line []byte) (time.Time, bool) {
		r, ok := index.ParseHead(line)
		if !ok {
			return time.Time{}, false
		}
		at, err := wire.ParseTime(r.ReceivedAt)
		if err != nil {
			return time.Time{}, false
		}
		if r.Source != index.SourceBackfill && wire.ValidHost(r.Host) {
			fn(r.Host, at)
		}
		return at, true
	})
	return err
}

// readAttempts calls fn with every attempt made at or after stop, newest
// first, continuing into the rotated file when the current one does not
// reach back far enough.
func readAttempts(dataDir string, stop time.Time, fn func(a index.Attempt, at time.Time)) error {
	visit := func(line []byte) (time.Time, bool) {
		a, ok := index.ParseAttempt(line)
		if !ok {
			return time.Time{}, false
		}
		at, err := wire.ParseTime(a.TS)
		if err != nil {
			return time.Time{}, false
		}
		if wire.ValidHost(a.Host) {
			fn(a, at)
		}
		return at, true
	}
	whole, err := scanTail(datadir.New(dataDir).Attempts(), stop, visit)
	if err != nil || !whole {
		return err
	}
	_, err = scanTail(datadir.New(dataDir).AttemptsRotated(), stop, visit)
	return err
}

// readAlerts returns the alerts recorded for bucket, keyed by host and
// symptom, with the time each was raised. It reads back to stop.
func readAlerts(dataDir, bucket string, stop time.Time) (map[key]string, error) {
	seen := make(map[key]string)
	_, err := scanTail(datadir.New(dataDir).Alerts(), stop, func(line []byte) (time.Time, bool) {
		var a alertRow
		if err := json.Unmarshal(line, &a); err != nil {
			return time.Time{}, false
		}
		if a.Bucket == bucket {
			k := key{a.Host, a.Symptom}
			// Newest first: keep the earliest raise of the hour.
			seen[k] = a.TS
		}
		ts, err := wire.ParseTime(a.TS)
		return ts, err == nil
	})
	return seen, err
}

// readHealth returns the time of each host's last health report. A report
// whose received_at cannot be read counts from the file's modification time.
func readHealth(dataDir string) (map[string]time.Time, error) {
	out := make(map[string]time.Time)
	err := hosthealth.Each(datadir.New(dataDir).HostHealth(), func(host string, rec hosthealth.Record, ok bool, modTime time.Time) {
		if ok {
			if at, err := wire.ParseTime(rec.ReceivedAt); err == nil {
				out[host] = at
				return
			}
		}
		out[host] = modTime
	})
	return out, err
}
