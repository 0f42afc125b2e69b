//go:build !linux

package store

import "os"

// writeNew writes b as the whole content of the empty file f.
func writeNew(f *os.File, b []byte) error {
	_, err := f.WriteAt(b, 0)
	return err
}
