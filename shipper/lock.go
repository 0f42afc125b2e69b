package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"cis490/internal/queuedir"
)

// errLocked reports that another shipper (daemon or --once) holds the lock.
var errLocked = errors.New("another cis490-shipper is running on this data dir")

// lockDataDir takes the exclusive flock on data_dir/.shipper.lock without
// waiting. The lock dies with the process, so a killed daemon never leaves
// it behind.
func lockDataDir(dataDir string) (unlock func(), err error) {
	path := queuedir.New(dataDir).Lock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is held)", errLocked, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
