package store

import (
	"fmt"
	"os"
	"syscall"

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
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
