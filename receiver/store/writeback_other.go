//go:build !linux

package store

import "os"

// startWriteback does nothing where sync_file_range(2) does not exist; the
// fsync before the link writes everything.
func startWriteback(f *os.File, off, n int64) {}

// waitWriteback does nothing where sync_file_range(2) does not exist.
func waitWriteback(f *os.File, off, n int64) {}
