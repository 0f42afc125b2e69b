package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cis490/internal/atomicio"
	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

// Problem kinds reported by Fsck (SPEC §5.4).
const (
	KindRowWithoutFile = "row-without-file"
	KindFileWithoutRow = "file-without-row"
	KindDuplicateRow   = "duplicate-row"
	KindTornLine       = "torn-line"
	KindBadRow         = "bad-row"
	KindTempFile       = "temp-file"
	KindSizeMismatch   = "size-mismatch"
	KindHashMismatch   = "hash-mismatch"
)

// Problem is one finding of Fsck.
type Problem struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Detail string `json:"detail"`
}

// Fsck checks the data directory without changing it: rows without files,
// files without rows, duplicate rows, torn or unreadable lines, leftover
// temp files, and sizes; with verify it rehashes every stored file against
// its row. Reading the index keeps one small struct per row.
func Fsck(dataDir string, verify bool) ([]Problem, error) {
	rep, err := FsckReport(dataDir, verify)
	return rep.Problems, err
}

// Report is the outcome of FsckReport.
type Report struct {
	Problems []Problem
	// Replicated counts rows whose local copy was removed after the object
	// store confirmed it (SPEC §17): not missing, and not a problem.
	Replicated int
}

// FsckReport is Fsck that also counts the episodes kept only in the
// object store.
func FsckReport(dataDir string, verify bool) (Report, error) {
	var rep Report
	replicated, err := replicalog.Set(dataDir)
	if err != nil {
		return rep, err
	}
	var problems []Problem
	add := func(kind, id, format string, args ...any) {
		problems = append(problems, Problem{Kind: kind, ID: id, Detail: fmt.Sprintf(format, args...)})
	}
	type entry struct {
		sha   string
		bytes int64
		seen  bool
	}
	rows := map[string]*entry{}
	var order []string
	bad, torn, err := index.ReadFile(datadir.New(dataDir).Index(), func(r index.Row) {
		if e := rows[r.ID]; e != nil {
			add(KindDuplicateRow, r.ID, "index has more than one row for %s", r.ID)
			return
		}
		rows[r.ID] = &entry{sha: r.SHA256, bytes: r.Bytes}
		order = append(order, r.ID)
	})
	if err != nil {
		return rep, err
	}
	for _, p := range bad {
		add(KindBadRow, "", "index line %d: %v", p.Line, p.Err)
	}
	if torn {
		add(KindTornLine, "", "index.jsonl ends with a torn line (the receiver truncates it at start-up)")
	}
	storeDir := datadir.New(dataDir).Store()
	err = eachStored(storeDir, func(id string) error {
		e := rows[id]
		if e == nil {
			add(KindFileWithoutRow, id, "store/%s%s has no index row (index-backfill adds it)", id, wire.EpisodeSuffix)
			return nil
		}
		e.seen = true
		path := filepath.Join(storeDir, id+wire.EpisodeSuffix)
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if st.Size() != e.bytes {
			add(KindSizeMismatch, id, "file has %d bytes, row says %d", st.Size(), e.bytes)
		}
		if verify {
			sum, _, err := hashFile(path)
			if err != nil {
				return fmt.Errorf("verify %s: %w", id, err)
			}
			if sum != e.sha {
				add(KindHashMismatch, id, "file hashes to %s, row says %s", sum, e.sha)
			}
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return rep, err
	}
	for _, id := range order {
		if !rows[id].seen && replicated[id] == rows[id].sha {
			rep.Replicated++
			continue
		}
		if !rows[id].seen {
			add(KindRowWithoutFile, id, "index row for %s but no store/%s%s", id, id, wire.EpisodeSuffix)
		}
	}
	tmps, err := TmpLeftovers(dataDir)
	if err != nil {
		return rep, err
	}
	for _, name := range tmps {
		add(KindTempFile, strings.SplitN(name, ".", 2)[0], "tmp/%s left over (removed at the receiver's next start)", name)
	}
	health, err := os.ReadDir(datadir.New(dataDir).HostHealth())
	if err != nil && !os.IsNotExist(err) {
		return rep, err
	}
	for _, t := range health {
		if target, ok := atomicio.TempTarget(t.Name()); ok {
			host, _ := strings.CutSuffix(target, ".json")
			add(KindTempFile, host, "%s/%s left over from an interrupted health report (removed at the receiver's next start)", datadir.HostHealthDir, t.Name())
		}
	}
	rep.Problems = problems
	return rep, nil
}
