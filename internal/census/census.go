// Package census counts a lab host's queue directories without changing
// them, for `cis490-shipper status` and the doctor's queue check, so the two
// report the same numbers. An episode counts as ready once its meta.json
// exists, as in the shipper's own scan (shipper/queue), which in addition
// waits for it to settle before packing. It depends on nothing heavier than
// the wire names and the queue layout, so the doctor does not link the
// packer.
package census

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/wire"
)

// Episodes counts the episode directories of a queue.
type Episodes struct {
	// Ready have meta.json, which the producer writes last; the shipper
	// packs them once they have settled.
	Ready int
	// Writing have no meta.json yet.
	Writing int
	// OldestReady is the meta.json mtime of the oldest ready episode, the
	// shipper's "oldest first" key (zero when none is ready).
	OldestReady time.Time
	// OldestWriting is the directory mtime of the oldest episode still being
	// written (zero when none is).
	OldestWriting time.Time
}

// CountEpisodes reads the episodes directory without changing it. Names
// starting with "." (producers stage there), plain files and names that are
// not ids are not episodes; a missing directory is empty.
func CountEpisodes(dir string) (Episodes, error) {
	var c Episodes
	ents, err := ReadDir(dir)
	if err != nil {
		return c, err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.IsDir() || !wire.ValidID(name) {
			continue
		}
		if fi, err := os.Stat(queuedir.MetaPath(filepath.Join(dir, name))); err == nil {
			c.Ready++
			c.OldestReady = Older(c.OldestReady, fi.ModTime())
			continue
		}
		c.Writing++
		if fi, err := e.Info(); err == nil {
			c.OldestWriting = Older(c.OldestWriting, fi.ModTime())
		}
	}
	return c, nil
}

// Older returns the earlier of two times; a zero time counts as absent.
func Older(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// CountOutbox counts finished tarballs (<id>.tar.zst) in the outbox;
// in-progress .partial files are not counted.
func CountOutbox(dir string) (int, error) {
	ents, err := ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), wire.EpisodeSuffix) {
			n++
		}
	}
	return n, nil
}

// ReadDir lists dir; a missing directory is empty (the shipper creates
// its directories on its first pass).
func ReadDir(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return ents, nil
}
