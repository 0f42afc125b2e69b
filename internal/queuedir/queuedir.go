// Package queuedir owns the layout of the shipper's queue on a lab host,
// under [paths] data_dir (SPEC §3, §8): the names of episodes/, outbox/,
// shipped/ and quarantine/, the shipper's lock file, and the reason file a
// quarantined episode holds, with that file's bytes. The shipper's queue,
// census, `cis490-shipper status` and the doctor all take their paths from a
// Layout; a house test keeps the names out of every other package.
//
// To add an entry: a name constant, a field or method for its path, for a
// directory the shipper keeps a line in Ensure, and its name in the house
// test's list of owned names (test/house).
package queuedir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cis490/internal/atomicio"
	"cis490/internal/wire"
)

// Names inside data_dir, and inside a quarantined episode.
const (
	EpisodesDir   = "episodes"               // episodes/<id>/, written by the experiments
	OutboxDir     = "outbox"                 // outbox/<id>.tar.zst, packed and not yet accepted
	ShippedDir    = "shipped"                // shipped/<id>/, accepted by the receiver
	QuarantineDir = "quarantine"             // quarantine/<id>/, refused for good or unusable
	LockFile      = ".shipper.lock"          // held by the daemon and by --once
	ReasonFile    = "quarantine_reason.json" // inside an episode: why it is quarantined
	MetaFile      = "meta.json"              // inside an episode, written last: it is finished
)

// Layout is the queue under one data_dir.
type Layout struct {
	Root       string // data_dir itself
	Episodes   string
	Outbox     string
	Shipped    string
	Quarantine string
}

// New returns the layout under dataDir.
func New(dataDir string) Layout {
	return Layout{
		Root:       dataDir,
		Episodes:   filepath.Join(dataDir, EpisodesDir),
		Outbox:     filepath.Join(dataDir, OutboxDir),
		Shipped:    filepath.Join(dataDir, ShippedDir),
		Quarantine: filepath.Join(dataDir, QuarantineDir),
	}
}

// Ensure creates any missing directory of the layout.
func (l Layout) Ensure() error {
	for _, p := range []string{l.Episodes, l.Outbox, l.Shipped, l.Quarantine} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

// Lock is the path of the shipper's lock file.
func (l Layout) Lock() string { return filepath.Join(l.Root, LockFile) }

// Episode is the directory of episode id in episodes/.
func (l Layout) Episode(id string) string { return filepath.Join(l.Episodes, id) }

// Tarball is the path of episode id's packed tarball in the outbox.
func (l Layout) Tarball(id string) string { return filepath.Join(l.Outbox, id+wire.EpisodeSuffix) }

// Reason is the content of quarantine_reason.json (SPEC §8). Status is 0 for
// a local decision; Receiver is the receiver's URL, or "" for a local
// decision.
type Reason struct {
	Status      int    `json:"status"`
	Error       string `json:"error"`
	Detail      string `json:"detail"`
	Remediation string `json:"remediation"`
	At          string `json:"at"`
	Receiver    string `json:"receiver"`
}

// MetaPath is the path of meta.json inside the episode directory dir.
func MetaPath(dir string) string { return filepath.Join(dir, MetaFile) }

// ReasonPath is the path of the reason file inside the episode directory dir.
func ReasonPath(dir string) string { return filepath.Join(dir, ReasonFile) }

// WriteReason stores r in the episode directory dir, atomically.
func WriteReason(dir string, r Reason) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return atomicio.WriteFile(ReasonPath(dir), append(b, '\n'), 0o644)
}

// ReadReason reads the reason file of the episode directory dir.
func ReadReason(dir string) (Reason, error) {
	var r Reason
	b, err := os.ReadFile(ReasonPath(dir))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", ReasonFile, err)
	}
	return r, nil
}

// QuarantinedAt returns the "at" time of the reason file in dir: when the
// episode was quarantined. Only "at" has to be well-formed.
func QuarantinedAt(dir string) (time.Time, error) {
	b, err := os.ReadFile(ReasonPath(dir))
	if err != nil {
		return time.Time{}, err
	}
	var r struct {
		At string `json:"at"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", ReasonFile, err)
	}
	return wire.ParseTime(r.At)
}
