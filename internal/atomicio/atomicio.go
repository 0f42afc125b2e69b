// Package atomicio is the one durable-write recipe of the project: write to a
// temp file in the target directory, fsync, close, move into place, fsync the
// directory.
package atomicio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	return write(path, data, perm, "", false)
}

// Pending is a file written under a temporary name in the directory of its
// final name, which it takes only on Commit: a reader of the final name
// sees no file or a complete one, never a partial one.
type Pending struct {
	*os.File
	path string // the final name
}

// Create starts a Pending for path under the temporary name tmp, which must
// be in path's directory. A tmp left by a crash is replaced, not reused, so
// that it cannot pass on its mode.
func Create(path, tmp string, perm os.FileMode) (*Pending, error) {
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	return &Pending{File: f, path: path}, nil
}

// TempTarget reports whether name (a base name) is the hidden temporary
// file of a write to <target> that never finished (".<target>.tmp-<random>",
// left by a crash), and returns target.
func TempTarget(name string) (target string, ok bool) {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, ".tmp-")
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// createTemp starts a Pending for path under a fresh hidden name.
func createTemp(path string) (*Pending, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &Pending{File: f, path: path}, nil
}

// Commit fsyncs and closes the file, renames it to its final name (replacing
// what is there) and fsyncs the directory. The temporary file is removed on
// failure.
func (p *Pending) Commit() error {
	if err := p.finish(); err != nil {
		return err
	}
	if err := os.Rename(p.Name(), p.path); err != nil {
		os.Remove(p.Name())
		return err
	}
	return SyncDir(filepath.Dir(p.path))
}

// CommitNew is Commit that never replaces an existing file: an existing
// final name yields an error matching ErrExist (see LinkNoReplace).
func (p *Pending) CommitNew() error {
	if err := p.finish(); err != nil {
		return err
	}
	return LinkNoReplace(p.Name(), p.path)
}

// finish fsyncs and closes the file, removing it on failure.
func (p *Pending) finish() error {
	if err := p.Sync(); err != nil {
		p.Abort()
		return err
	}
	if err := p.Close(); err != nil {
		os.Remove(p.Name())
		return err
	}
	return nil
}

// Abort closes and removes the temporary file.
func (p *Pending) Abort() {
	p.Close()
	os.Remove(p.Name())
}
