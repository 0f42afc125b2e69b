package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// maxMetaBytes bounds how much of a meta.json is read.
const maxMetaBytes = 16 << 20

// Meta is what the shipper takes from an episode's meta.json.
type Meta struct {
	Commit        string // lowercase 40-hex, or "" when missing or malformed
	SchemaVersion string // valid schema version, or ""
}

// readMeta reads episodes/<id>/meta.json. It returns the reason the episode
// would be drained by quarantine-unstamped: "" when stamped, else
// ReasonMissingMeta, ReasonBadMeta or ReasonUnstamped, with detail.
func readMeta(dir string) (m Meta, reason, detail string) {
	f, err := os.Open(queuedir.MetaPath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return m, ReasonMissingMeta, "the episode has no meta.json"
	}
	if err != nil {
		return m, ReasonBadMeta, fmt.Sprintf("meta.json is unreadable: %v", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaBytes))
	if err != nil {
		return m, ReasonBadMeta, fmt.Sprintf("meta.json is unreadable: %v", err)
	}
	m, err = parseMeta(b)
	if err != nil {
		return m, ReasonBadMeta, fmt.Sprintf("meta.json is not a JSON object: %v", err)
	}
	if m.Commit == "" {
		return m, ReasonUnstamped, "meta.json has no 40-hex code_version.commit"
	}
	return m, "", ""
}

// parseMeta decodes meta.json leniently: only a non-object is an error;
// wrong types of code_version.commit or schema_version count as absent.
func parseMeta(b []byte) (Meta, error) {
	var m Meta
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return m, err
	}
	if doc == nil {
		return m, errors.New("null")
	}
	var cv struct {
		Commit any `json:"commit"`
	}
	if raw, ok := doc["code_version"]; ok && json.Unmarshal(raw, &cv) == nil {
		if s, ok := cv.Commit.(string); ok {
			m.Commit, _ = wire.NormalizeCommit(s)
		}
	}
	if raw, ok := doc["schema_version"]; ok {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case float64:
				s = string(raw)
			}
			if wire.ValidSchemaVersion(s) {
				m.SchemaVersion = s
			}
		}
	}
	return m, nil
}
