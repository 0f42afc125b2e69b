package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/pack"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

// Backfill appends a row with source "backfill" for every store/ file that
// has none (SPEC §5.3): it hashes the file and reads <id>/meta.json from the
// tarball for the commit and host. With dryRun it only reports the rows. It
// is idempotent. The caller must hold the data directory's lock.
func Backfill(dataDir string, dryRun bool, now func() time.Time) ([]index.Row, error) {
	var app *jsonl.Appender
	if !dryRun {
		if _, err := jsonl.RepairTorn(datadir.New(dataDir).Index()); err != nil {
			return nil, fmt.Errorf("backfill: %w", err)
		}
		var err error
		if app, err = jsonl.OpenAppender(datadir.New(dataDir).Index()); err != nil {
			return nil, fmt.Errorf("backfill: %w", err)
		}
		defer app.Close()
	}
	indexed, err := indexedIDs(datadir.New(dataDir).Index())
	if err != nil {
		return nil, err
	}
	return backfill(dataDir, func(r index.Row) (int64, error) { return app.AppendAt(r) }, indexed, dryRun, now)
}

// indexedSet says whether the index holds a row for an id (false positives
// are as rare as 64-bit hash collisions) and learns rows appended to it.
type indexedSet interface {
	hasHash(id string) bool
	add(id string, off int64)
}

func backfill(dataDir string, appendRow func(index.Row) (int64, error), indexed indexedSet, dryRun bool, now func() time.Time) ([]index.Row, error) {
	if now == nil {
		now = time.Now
	}
	storeDir := datadir.New(dataDir).Store()
	var rows []index.Row
	err := eachStored(storeDir, func(id string) error {
		if indexed.hasHash(id) {
			return nil
		}
		path := filepath.Join(storeDir, id+wire.EpisodeSuffix)
		sum, n, err := hashFile(path)
		if err != nil {
			return fmt.Errorf("backfill %s: %w", id, err)
		}
		row := index.Row{ID: id, Host: "unknown", SHA256: sum, Bytes: n,
			ReceivedAt: wire.FormatTime(now()), Source: index.SourceBackfill}
		if meta, err := readMeta(path); err == nil {
			if c, ok := wire.NormalizeCommit(meta.CodeVersion.Commit); ok {
				row.Commit = c
			}
			if wire.ValidHost(meta.HostID) {
				row.Host = meta.HostID
			}
		}
		if !dryRun {
			off, err := appendRow(row)
			if err != nil {
				return err
			}
			indexed.add(id, off)
		}
		rows = append(rows, row)
		return nil
	})
	return rows, err
}

// idSet is a compact set of ids: 8-byte hashes, sorted. Its size stays small
// for large indexes and it lives only while a scan runs.
type idSet []uint64

func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func (s idSet) hasHash(id string) bool {
	_, ok := slices.BinarySearch(s, idHash(id))
	return ok
}

func (s idSet) add(string, int64) {}

// indexedIDs reads the ids of every row of the index.
func indexedIDs(path string) (idSet, error) {
	var set idSet
	_, err := jsonl.ScanFile(path, func(line []byte) error {
		if id, ok := index.RowID(line); ok {
			set = append(set, idHash(id))
		}
		return nil
	})
	slices.Sort(set)
	return set, err
}

// eachStored calls fn for the id of every *.tar.zst file in dir, reading the
// directory in batches so memory does not follow the store's size.
func eachStored(dir string, fn func(id string) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			id, ok := strings.CutSuffix(name, wire.EpisodeSuffix)
			if !ok || !wire.ValidID(id) {
				continue
			}
			if ferr := fn(id); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// episodeMeta is the part of meta.json the receiver reads.
type episodeMeta struct {
	HostID      string `json:"host_id"`
	CodeVersion struct {
		Commit string `json:"commit"`
	} `json:"code_version"`
}

// maxMetaBytes bounds the meta.json backfill reads out of a tarball.
const maxMetaBytes = 1 << 20

// readMeta returns the episode's meta.json from a stored tarball, read with
// the packer's member reader (which caps the decoder's window and memory).
func readMeta(path string) (episodeMeta, error) {
	var m episodeMeta
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	b, err := pack.ReadMember(f, pack.MetaMember, maxMetaBytes)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}
