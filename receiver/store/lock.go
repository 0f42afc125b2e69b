package store

import (
	"errors"
	"fmt"
	"os"

	"cis490/internal/atomicio"
	"cis490/receiver/datadir"
)

// Lock takes the data directory's exclusive lock, which a serving receiver
// holds for its lifetime and index-backfill takes for its run, so that two
// writers never append rows for the same file. It does not wait: a held
// lock yields an error matching ErrLocked.
func Lock(dataDir string) (unlock func(), err error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dataDir, err)
	}
	path := datadir.New(dataDir).Lock()
	unlock, err = atomicio.TryLock(path, 0o640)
	if errors.Is(err, atomicio.ErrLocked) {
		return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
	}
	return unlock, err
}
