package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// Moved is one episode quarantine-unstamped moved (or would move).
type Moved struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// UnstampedReport is the outcome of QuarantineUnstamped (SPEC §13 JSON).
type UnstampedReport struct {
	Kept        int     `json:"kept"`
	Quarantined int     `json:"quarantined"`
	DryRun      bool    `json:"dry_run"`
	Moved       []Moved `json:"moved"`
}

// QuarantineUnstamped moves every episode whose meta.json lacks a 40-hex
// code_version.commit (missing or unreadable meta.json too) to quarantine/
// (SPEC §8.2). It takes no lock: each move is one no-replace rename, so it
// is safe beside a running daemon, which treats an episode moved away
// mid-pack as gone. An episode without meta.json that was modified within
// settle is still being written and is kept. Directories whose names are
// not episode ids are left to the daemon's bad-id handling.
func QuarantineUnstamped(d queuedir.Layout, dryRun bool, now time.Time, settle time.Duration, log *slog.Logger) (UnstampedReport, error) {
	rep := UnstampedReport{DryRun: dryRun, Moved: []Moved{}}
	ents, err := os.ReadDir(d.Episodes)
	if err != nil {
		return rep, fmt.Errorf("list episodes: %w", err)
	}
	if !dryRun {
		if err := os.MkdirAll(d.Quarantine, 0o755); err != nil {
			return rep, fmt.Errorf("quarantine dir: %w", err)
		}
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.IsDir() || !wire.ValidID(name) {
			continue
		}
		dir := filepath.Join(d.Episodes, name)
		if halfQuarantined(d, name) {
			if !dryRun {
				if _, err := finishQuarantine(d, name); err != nil && !errors.Is(err, ErrVanished) {
					return rep, err
				}
			}
			continue
		}
		_, reason, detail := readMeta(dir)
		if reason == ReasonMissingMeta {
			ok, err := settled(dir, now.Add(-settle))
			if errors.Is(err, ErrVanished) {
				continue
			}
			if err != nil {
				return rep, err
			}
			if !ok {
				reason = "" // a producer is still writing it
			}
		}
		if reason == "" {
			rep.Kept++
			continue
		}
		if !dryRun {
			dest, err := quarantine(d, name, queuedir.Reason{Error: reason, Detail: detail, At: wire.FormatTime(now)})
			if errors.Is(err, ErrVanished) {
				continue // shipped or moved meanwhile
			}
			if err != nil {
				return rep, err
			}
			log.Info("episode quarantined", "id", name, "error", reason, "detail", detail, "quarantined_as", dest)
		}
		rep.Quarantined++
		rep.Moved = append(rep.Moved, Moved{ID: name, Reason: reason})
	}
	return rep, nil
}
