package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"cis490/internal/atomicio"
)

// StateDir is where `update` keeps its state on a lab host (SPEC §15).
const StateDir = "/var/lib/cis490-update"

// StateFile is the state's name in StateDir.
const StateFile = "state.json"

// Steps of an update in progress, recorded in State.Pending before each is
// taken, so the next run finishes or undoes it.
const (
	StepStaging     = "staging"      // download, unpack, checks: nothing installed yet
	StepInstalling  = "installing"   // the new release's installer runs
	StepHealth      = "health"       // installed; the health window runs
	StepRollingBack = "rolling-back" // the previous release's installer runs
)

// State is state.json: what this host accepted, what failed here, and the
// update in progress. The doctor's update check reads it.
type State struct {
	// LastSeq is the highest seq this host accepted: a lower one is a
	// replay and refused.
	LastSeq int64 `json:"last_seq"`
	// Failed lists versions that failed here and are never retried.
	Failed []Failure `json:"failed,omitempty"`
	// Pending is the update in progress, nil when none.
	Pending *Pending `json:"pending,omitempty"`

	// The outcome of the last run, for the doctor.
	LastRunAt     string `json:"last_run_at,omitempty"`
	LastStatus    string `json:"last_status,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	LastSuccessAt string `json:"last_success_at,omitempty"` // last run that reached the receiver and was not refused
	ExpiresAt     string `json:"expires_at,omitempty"`      // of the last accepted manifest
	Installed     string `json:"installed,omitempty"`
	Previous      string `json:"previous,omitempty"` // the release kept for going back
	CodeStatus    string `json:"code_status,omitempty"`
	CodeHead      string `json:"code_head,omitempty"`
}

// Failure is a version that failed on this host. A check-config refusal
// carries the config's sha256: once the config changes, the version may be
// tried again.
type Failure struct {
	Version      string `json:"version"`
	Reason       string `json:"reason"`
	At           string `json:"at"`
	ConfigSHA256 string `json:"config_sha256,omitempty"`
}

// Pending is an update between its first change and its outcome.
type Pending struct {
	Step            string `json:"step"`
	Version         string `json:"version"`
	Seq             int64  `json:"seq"`
	Previous        string `json:"previous"`
	RestartsBefore  string `json:"restarts_before"`
	PingOKBefore    bool   `json:"ping_ok_before"`
	StartedAt       string `json:"started_at"`
	RollbackPending string `json:"rollback_reason,omitempty"`
}

// failedBefore reports whether version failed here and may not be retried
// with a config whose sha256 is configSHA.
func (s *State) failedBefore(version, configSHA string) (Failure, bool) {
	for _, f := range s.Failed {
		if f.Version == version && (f.ConfigSHA256 == "" || f.ConfigSHA256 == configSHA) {
			return f, true
		}
	}
	return Failure{}, false
}

func (s *State) remember(f Failure) {
	s.Failed = slices.DeleteFunc(s.Failed, func(g Failure) bool { return g.Version == f.Version })
	s.Failed = append(s.Failed, f)
	if len(s.Failed) > 50 {
		s.Failed = s.Failed[len(s.Failed)-50:]
	}
}

// LoadState reads the state file; a missing file is the empty state.
func LoadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("update state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("update state %s: %w", path, err)
	}
	return s, nil
}

// save writes the state durably (temp, fsync, rename).
func (s *State) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicio.WriteFile(path, append(b, '\n'), 0o644)
}
