// Package replicalog defines replica.jsonl, the receiver's durable record of
// the episodes the object store confirmed (SPEC §17): one row
// {"id","sha256","at"} per episode, appended and fsynced only after the
// store answered with the row's checksum. It is the one reader and writer
// of that file.
package replicalog

import (
	"encoding/json"
	"fmt"
	"os"

	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// Row says that the bucket holds episode ID with digest SHA256 since At.
type Row struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
	At     string `json:"at"`
}

// Path returns the record's path in dataDir.
func Path(dataDir string) string { return datadir.New(dataDir).Replica() }

// Parse decodes one line and checks its id and digest.
func Parse(line []byte) (Row, error) {
	var r Row
	if err := json.Unmarshal(line, &r); err != nil {
		return Row{}, fmt.Errorf("replica row: %w", err)
	}
	if !wire.ValidID(r.ID) {
		return Row{}, fmt.Errorf("replica row: bad id %q", r.ID)
	}
	sha, ok := wire.NormalizeSHA256(r.SHA256)
	if !ok {
		return Row{}, fmt.Errorf("replica row %s: bad sha256 %q", r.ID, r.SHA256)
	}
	r.SHA256 = sha
	return r, nil
}

// ReadFile calls fn for every valid row of the record in dataDir, in file
// order; a missing record has no rows. Unreadable lines and a torn last
// line are skipped (the torn line is cut off when the record is opened for
// appending).
func ReadFile(dataDir string, fn func(Row)) error {
	_, err := jsonl.ScanFile(Path(dataDir), func(line []byte) error {
		if r, err := Parse(line); err == nil {
			fn(r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", Path(dataDir), err)
	}
	return nil
}

// Set reads the record in dataDir into a map from id to sha256 (the first
// row of an id wins; the replicator writes one per id).
func Set(dataDir string) (map[string]string, error) {
	m := map[string]string{}
	err := ReadFile(dataDir, func(r Row) {
		if _, ok := m[r.ID]; !ok {
			m[r.ID] = r.SHA256
		}
	})
	return m, err
}

// Log appends rows to the record durably.
type Log struct{ a *jsonl.Appender }

// Open repairs a torn last line of the record in dataDir and opens it for
// appending.
func Open(dataDir string) (*Log, error) {
	if _, err := jsonl.RepairTorn(Path(dataDir)); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("repair %s: %w", Path(dataDir), err)
	}
	a, err := jsonl.OpenAppender(Path(dataDir))
	if err != nil {
		return nil, err
	}
	return &Log{a: a}, nil
}

// Append writes r and returns once it is fsynced.
func (l *Log) Append(r Row) error { return l.a.Append(r) }

// Close closes the record.
func (l *Log) Close() error { return l.a.Close() }
