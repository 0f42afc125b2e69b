package main

import (
	"errors"
	"fmt"

	"cis490/internal/atomicio"
	"cis490/internal/queuedir"
)

// errLocked reports that another shipper (daemon or --once) holds the lock.
var errLocked = errors.New("another cis490-shipper is running on this data dir")

// lockDataDir takes the exclusive flock on data_dir/.shipper.lock without
// waiting. The lock dies with the process, so a killed daemon never leaves
// it behind.
func lockDataDir(dataDir string) (unlock func(), err error) {
	path := queuedir.New(dataDir).Lock()
	unlock, err = atomicio.TryLock(path, 0o644)
	if errors.Is(err, atomicio.ErrLocked) {
		return nil, fmt.Errorf("%w (%s is held)", errLocked, path)
	}
	return unlock, err
}
