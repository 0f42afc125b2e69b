// Package index owns the rows of the receiver's two logs: index.jsonl, the
// append-only record of stored episodes (SPEC §5.1), and attempts.jsonl, one
// row per upload attempt (SPEC §5.2). It defines their types and every
// reader of their bytes, from the validating Parse to the byte-search
// readers of fast.go that fleet-health, backfill and the duplicate lookup
// use on long tails. Where the files live is receiver/datadir's business.
package index

import (
	"encoding/json"
	"fmt"

	"cis490/internal/jsonl"
	"cis490/internal/wire"
)

// Sources of a row.
const (
	SourceReceiver = "receiver"
	SourceBackfill = "backfill"
)

// Row is one stored episode.
type Row struct {
	ID            string `json:"id"`
	Host          string `json:"host"`
	SHA256        string `json:"sha256"`
	Bytes         int64  `json:"bytes"`
	ReceivedAt    string `json:"received_at"`
	Commit        string `json:"commit,omitempty"`
	SchemaVersion string `json:"schema_version,omitempty"`
	Source        string `json:"source"`
}

// Parse decodes one line into a Row and checks the fields readers rely on:
// a valid id and a 64-hex sha256. Unknown fields are ignored.
func Parse(line []byte) (Row, error) {
	var r Row
	if err := json.Unmarshal(line, &r); err != nil {
		return Row{}, fmt.Errorf("index row: %w", err)
	}
	if !wire.ValidID(r.ID) {
		return Row{}, fmt.Errorf("index row: bad id %q", r.ID)
	}
	sha, ok := wire.NormalizeSHA256(r.SHA256)
	if !ok {
		return Row{}, fmt.Errorf("index row %s: bad sha256 %q", r.ID, r.SHA256)
	}
	r.SHA256 = sha
	return r, nil
}

// Problem is a line of the index that could not be read.
type Problem struct {
	Line int
	Err  error
}

// ReadFile reads every row of the index at path, calling fn per valid row in
// file order. Unparseable lines are returned as problems; a torn last line is
// reported by torn.
func ReadFile(path string, fn func(Row)) (problems []Problem, torn bool, err error) {
	n := 0
	torn, err = jsonl.ScanFile(path, func(line []byte) error {
		n++
		r, perr := Parse(line)
		if perr != nil {
			problems = append(problems, Problem{Line: n, Err: perr})
			return nil
		}
		fn(r)
		return nil
	})
	return problems, torn, err
}
