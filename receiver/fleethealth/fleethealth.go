// Package fleethealth is the receiver's fleet check (SPEC §10): it reads the
// recent tail of the index, the attempts log and the host health reports,
// finds hosts that are silent, refused on every upload, uploading without a
// commit stamp or overdue with their health report, and raises each alert
// once per host, symptom and hour.
package fleethealth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/config"
	"cis490/internal/wire"
)

// Symptoms a finding can name, in the order findings of one host are listed.
const (
	SymptomSilent      = "silent"
	SymptomFatalOnly   = "fatal-only"
	SymptomUnstamped   = "unstamped"
	SymptomStaleHealth = "stale-health"
	// SymptomReplicaLag is raised for host ReceiverHost when the oldest
	// episode not yet confirmed by the object store is older than
	// replica_max_lag_s (SPEC §17).
	SymptomReplicaLag = "replica-lag"
)

// ReceiverHost is the host a finding about the receiver itself names.
const ReceiverHost = "receiver"

// BucketLayout formats the hour bucket that alerts are deduplicated by.
const BucketLayout = "2006-01-02T15"

// Slack is how far past a window's start the backward readers keep going:
// rows are appended roughly in time order, and a row up to Slack older than
// its neighbours must still be seen.
const Slack = 5 * time.Minute

// ErrInput marks a failure to read the check's inputs (exit status 1).
var ErrInput = errors.New("fleet-health inputs unreadable")

// Options configures one run of the check.
type Options struct {
	DataDir string             // the receiver's data directory
	Config  config.FleetHealth // thresholds, expected hosts, notify command
	Now     time.Time          // the check's clock; zero means time.Now
	// Replicating says [replica] is configured: the replica-lag symptom
	// is checked.
	Replicating bool

	// Warn receives one warning line per new alert; nil discards them.
	Warn io.Writer
	// Journal prefixes warning lines with the journald priority <4>.
	Journal bool
	// NotifyOutput receives the notify command's stdout and stderr; nil
	// discards them.
	NotifyOutput io.Writer
	// Logger records failures that do not stop the check (notify errors,
	// unreadable rows); nil discards them.
	Logger *slog.Logger
}

// Finding is one symptom of one host, as printed by --json.
type Finding struct {
	Host    string `json:"host"`
	Symptom string `json:"symptom"`
	Detail  string `json:"detail"`
	Bucket  string `json:"bucket"`
	TS      string `json:"ts"`  // when the alert was raised (now, for new ones)
	New     bool   `json:"new"` // whether this run raised the alert
}

// Report is the result of one run.
type Report struct {
	GeneratedAt time.Time
	Findings    []Finding
}

// Run evaluates the fleet at o.Now, records and announces the alerts not yet
// raised in the current hour, and returns every finding. Errors reading the
// inputs or appending alerts wrap ErrInput.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	o.Now = o.Now.UTC()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := os.Stat(o.DataDir)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if !st.IsDir() {
		return Report{}, fmt.Errorf("%w: data dir %s is not a directory", ErrInput, o.DataDir)
	}

	// One run at a time: dedup reads alerts.jsonl and then appends to it.
	// The lock is on the directory itself: it needs no write access and
	// leaves no file behind.
	unlock, err := atomicio.Lock(o.DataDir, 0)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	defer unlock()

	found, err := evaluate(o)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	findings, err := record(ctx, o, found)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	return Report{GeneratedAt: o.Now, Findings: findings}, nil
}

// Bucket returns the hour bucket of t, in UTC.
func Bucket(t time.Time) string { return t.UTC().Format(BucketLayout) }

// symptomRank orders the symptoms of one host in findings.
func symptomRank(s string) int {
	switch s {
	case SymptomSilent:
		return 0
	case SymptomFatalOnly:
		return 1
	case SymptomUnstamped:
		return 2
	case SymptomReplicaLag:
		return 4
	default:
		return 3
	}
}

// formatTS is wire.FormatTime, named here for the alert and finding fields.
func formatTS(t time.Time) string { return wire.FormatTime(t) }
