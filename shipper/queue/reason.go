package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// Local quarantine reasons (SPEC §13); receiver refusals use the receiver's
// error code instead.
const (
	ReasonBadID       = "bad-id"
	ReasonMissingMeta = "missing-meta"
	ReasonBadMeta     = "bad-meta"
	ReasonUnstamped   = "unstamped"
)

// quarantine moves episodes/<name> to quarantine/<name> (or a free name) with
// its reason. The reason is written inside the episode first and the
// directory renamed second: a crash in between leaves an episode holding a
// reason file in episodes/, which the next pass (finishQuarantine) moves on.
// Writing after the rename instead could leave a quarantine entry without a
// reason, which retention could not date.
func quarantine(d queuedir.Layout, name string, r queuedir.Reason) (string, error) {
	src := d.Episode(name)
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("quarantine %s: %w", name, ErrVanished)
	}
	if err := queuedir.WriteReason(src, r); err != nil {
		if _, serr := os.Lstat(src); errors.Is(serr, fs.ErrNotExist) {
			return "", fmt.Errorf("quarantine %s: %w", name, ErrVanished)
		}
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	dest, err := moveFree(src, d.Quarantine, name)
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	removeTarball(d, name)
	return dest, nil
}

// halfQuarantined reports whether episodes/<name> already holds a reason
// file: a quarantine interrupted between its two steps.
func halfQuarantined(d queuedir.Layout, name string) bool {
	_, err := os.Lstat(queuedir.ReasonPath(d.Episode(name)))
	return err == nil
}

// finishQuarantine completes an interrupted quarantine of episodes/<name>.
func finishQuarantine(d queuedir.Layout, name string) (string, error) {
	dest, err := moveFree(d.Episode(name), d.Quarantine, name)
	if err != nil {
		return "", fmt.Errorf("quarantine %s: %w", name, err)
	}
	removeTarball(d, name)
	return dest, nil
}

// removeTarball deletes outbox/<id>.tar.zst, keeping the outbox invariant
// after the episode left episodes/.
func removeTarball(d queuedir.Layout, id string) {
	os.Remove(d.Tarball(id))
}

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
	f, err := os.Open(filepath.Join(dir, "meta.json"))
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
