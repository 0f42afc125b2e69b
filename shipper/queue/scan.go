package queue

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// candidate is an episode directory with a meta.json, in shipping order.
type candidate struct {
	id    string
	mtime time.Time // of meta.json
}

// listing is one read of episodes/.
type listing struct {
	ready   []candidate // with meta.json, oldest first (not yet settle-checked)
	noMeta  []string    // valid ids without meta.json yet
	badIDs  []string    // directory names that are not valid ids
	halfQ   []string    // directories holding a quarantine reason already
	pending int         // valid-id directories
}

// list reads episodes/: names starting with "." are staging areas and
// ignored, as are plain files. Ordering is by meta.json mtime, then id
// (SPEC §13).
func list(d queuedir.Layout) (listing, error) {
	var l listing
	ents, err := os.ReadDir(d.Episodes)
	if err != nil {
		return l, fmt.Errorf("list episodes: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.IsDir() {
			continue
		}
		if halfQuarantined(d, name) {
			l.halfQ = append(l.halfQ, name)
			continue
		}
		if !wire.ValidID(name) {
			l.badIDs = append(l.badIDs, name)
			continue
		}
		l.pending++
		fi, err := os.Stat(queuedir.MetaPath(d.Episode(name)))
		if err != nil {
			l.noMeta = append(l.noMeta, name)
			continue
		}
		l.ready = append(l.ready, candidate{id: name, mtime: fi.ModTime()})
	}
	slices.SortFunc(l.ready, func(a, b candidate) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return l, nil
}

// errUnsettled stops the settle walk at the first recent entry.
var errUnsettled = errors.New("recently modified")

// settled reports whether nothing under dir (dir itself included) was
// modified after cutoff. Symlinks are judged by their own mtime and never
// followed.
func settled(dir string, cutoff time.Time) (bool, error) {
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := de.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(cutoff) {
			return errUnsettled
		}
		return nil
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errUnsettled):
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			return false, ErrVanished
		}
		// A file removed mid-walk is a producer still at work.
		return false, nil
	}
	return false, err
}
