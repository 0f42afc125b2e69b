// Package datadir owns the layout of the receiver's data directory (SPEC
// §5): the one place the names of its files and directories are spelled.
// Every package that reads or writes there (store, api, fleethealth, the
// receiver's commands) asks a Layout for the path instead of joining names of
// its own; a house test keeps the names out of every other package.
//
// To add an entry: a name constant, a method returning its path, a line in
// Entries, and its name in the house test's list of owned names
// (test/house).
package datadir

import (
	"path/filepath"
	"strconv"
	"strings"

	"cis490/internal/wire"
)

// Names of the entries at the top of the data directory.
const (
	IndexFile       = "index.jsonl"       // one row per stored episode, append-only (SPEC §5.1)
	AttemptsFile    = "attempts.jsonl"    // one row per episode PUT attempt (SPEC §5.2)
	AttemptsRotated = AttemptsFile + ".1" // the previous generation of the attempts log
	AlertsFile      = "alerts.jsonl"      // fleet-health alerts, append-only (SPEC §10)
	StoreDir        = "store"             // store/<id>.tar.zst, the stored episodes
	TmpDir          = "tmp"               // uploads being received
	HostHealthDir   = "host-health"       // host-health/<host>.json, the latest report per host
	LockFile        = ".receiver.lock"    // held by a serving receiver and by index-backfill
	HostsDir        = "hosts"             // the host registry (SPEC §14), owned by receiver/registry
	ReleasesDir     = "releases"          // published releases (SPEC §15), owned by receiver/releases
	// Replication (SPEC §17); receiver/replicalog owns what is in them.
	ReplicaFile       = "replica.jsonl"       // one row per episode the object store confirmed
	ReplicaStatusFile = "replica-status.json" // the running replicator's last state
	ReplicaDaysFile   = "replica-days.json"   // rows in each uploaded day index object
)

// Entries lists every name the receiver may create at the top of its data
// directory; anything else there was put by someone else.
var Entries = []string{IndexFile, AttemptsFile, AttemptsRotated, AlertsFile, StoreDir, TmpDir, HostHealthDir, LockFile,
	HostsDir, ReleasesDir, ReplicaFile, ReplicaStatusFile, ReplicaDaysFile}

// Layout is a receiver data directory.
type Layout struct {
	Root string // the data directory itself ([server] data_dir)
}

// New returns the layout of the data directory root.
func New(root string) Layout { return Layout{Root: root} }

func (l Layout) join(name ...string) string {
	return filepath.Join(append([]string{l.Root}, name...)...)
}

// Index is the path of index.jsonl.
func (l Layout) Index() string { return l.join(IndexFile) }

// Attempts is the path of attempts.jsonl.
func (l Layout) Attempts() string { return l.join(AttemptsFile) }

// AttemptsRotated is the path of the attempts log's previous generation.
func (l Layout) AttemptsRotated() string { return l.join(AttemptsRotated) }

// Alerts is the path of alerts.jsonl.
func (l Layout) Alerts() string { return l.join(AlertsFile) }

// Store is the directory of stored episodes.
func (l Layout) Store() string { return l.join(StoreDir) }

// Stored is the path of the stored tarball of episode id.
func (l Layout) Stored(id string) string { return l.join(StoreDir, id+wire.EpisodeSuffix) }

// Tmp is the directory of uploads being received.
func (l Layout) Tmp() string { return l.join(TmpDir) }

// sparePrefix begins the names of spare upload files in tmp/.
const sparePrefix = "spare-"

// Spare is the path of the n-th spare upload file in tmp/: an empty file
// made ahead of need, which an upload is written into (receiver/store).
func (l Layout) Spare(n uint64) string {
	return l.join(TmpDir, sparePrefix+strconv.FormatUint(n, 10))
}

// IsSpare reports whether name, a base name in tmp/, is a spare upload file.
func IsSpare(name string) bool {
	n, ok := strings.CutPrefix(name, sparePrefix)
	if !ok || n == "" {
		return false
	}
	_, err := strconv.ParseUint(n, 10, 64)
	return err == nil
}

// HostHealth is the directory of the hosts' latest health reports.
func (l Layout) HostHealth() string { return l.join(HostHealthDir) }

// HostHealthFile is the path of host's latest health report.
func (l Layout) HostHealthFile(host string) string { return l.join(HostHealthDir, host+".json") }

// Lock is the path of the data directory's lock file.
func (l Layout) Lock() string { return l.join(LockFile) }

// Hosts is the host registry's directory; receiver/registry owns what is in
// it.
func (l Layout) Hosts() string { return l.join(HostsDir) }

// Releases is the published releases' directory; receiver/releases owns
// what is in it.
func (l Layout) Releases() string { return l.join(ReleasesDir) }

// Replica is replica.jsonl, the record of confirmed copies in the object
// store.
func (l Layout) Replica() string { return l.join(ReplicaFile) }

// ReplicaStatus is the replicator's published state.
func (l Layout) ReplicaStatus() string { return l.join(ReplicaStatusFile) }

// ReplicaDays holds the row counts of the uploaded day index objects.
func (l Layout) ReplicaDays() string { return l.join(ReplicaDaysFile) }
