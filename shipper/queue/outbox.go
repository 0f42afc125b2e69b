package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"cis490/internal/pack"
	"cis490/internal/wire"
)

// sweep restores the outbox invariant at the start of a pass (SPEC §3):
// outbox/<id>.tar.zst exists only while episodes/<id>/ does, and no
// .partial survives, since no pack is live between passes and the daemon's
// lock keeps any other shipper out. The work is bounded by the outbox's
// file count.
func (q *Queue) sweep() error {
	ents, err := os.ReadDir(q.Dirs.Outbox)
	if err != nil {
		return fmt.Errorf("sweep outbox: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(q.Dirs.Outbox, name)
		switch {
		case strings.HasSuffix(name, pack.PartialSuffix):
			if err := os.Remove(path); err == nil {
				q.log().Info("removed stale partial tarball", "file", name)
			}
		case strings.HasSuffix(name, wire.EpisodeSuffix):
			id := strings.TrimSuffix(name, wire.EpisodeSuffix)
			_, err := os.Lstat(filepath.Join(q.Dirs.Episodes, id))
			if !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			delete(q.packed, id)
			if err := os.Remove(path); err == nil {
				q.log().Info("removed orphaned tarball", "file", name)
			}
		}
	}
	return nil
}
