//go:build !linux

package store

import "os"

// openSpareFile creates the spare file path; no direct I/O here.
func openSpareFile(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	return f, false, err
}

// writeNew writes b as the whole content of the empty spare.
func (s *spare) writeNew(b []byte) error {
	_, err := s.WriteAt(b, 0)
	return err
}

// buffered does nothing: spares never use direct I/O here.
func (s *spare) buffered() error { return nil }
