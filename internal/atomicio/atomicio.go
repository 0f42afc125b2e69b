// Package atomicio is the one durable-write recipe of the project: write to a
// temp file in the target directory, fsync, close, move into place, fsync the
// directory.
package atomicio

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrExist is returned by LinkNoReplace when the target already exists.
var ErrExist = os.ErrExist

// SyncDir fsyncs a directory so that renames and links inside it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// LinkNoReplace moves the already-fsynced file tmp to dst without ever
// replacing an existing dst: link(2) fails with EEXIST where rename(2) would
// overwrite. tmp is removed in every case; dst's directory is fsynced on
// success. An existing dst yields an error matching ErrExist.
func LinkNoReplace(tmp, dst string) error {
	err := os.Link(tmp, dst)
	_ = os.Remove(tmp)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("link %s: %w", dst, ErrExist)
		}
		return fmt.Errorf("link %s: %w", dst, err)
	}
	return SyncDir(filepath.Dir(dst))
}

// WriteFile durably replaces path with data: temp file in the same
// directory, fsync, rename, fsync of the directory. A reader sees the old
// file or the new one, never a partial one.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}
