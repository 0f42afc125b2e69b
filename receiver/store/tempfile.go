package store

import (
	"os"

	"cis490/internal/atomicio"
)

// tempFile is an upload being written under tmp/. Where the kernel offers
// O_TMPFILE it has no name until it is linked into store/: no directory
// entry to create in tmp/ and none to remove after the link, which saves two
// metadata updates per upload, and a crash leaves nothing behind. Elsewhere
// it is a named <id>.*.part file, removed after the link (start-up empties
// tmp/ of those a crash left).
type tempFile struct {
	*os.File
	path string // the named file's path; "" when unnamed
}

// createTemp starts an upload's temp file.
func (s *Store) createTemp(id string) (*tempFile, error) {
	if s.unnamedTmp {
		if f, err := atomicio.OpenUnnamed(s.tmpDir); err == nil {
			return &tempFile{File: f}, nil
		}
	}
	f, err := os.CreateTemp(s.tmpDir, id+".*.part")
	if err != nil {
		return nil, err
	}
	return &tempFile{File: f, path: f.Name()}, nil
}

// link gives the fsynced temp file the name dst without ever replacing an
// existing dst (an error matching fs.ErrExist), then closes it; a named temp
// file is removed whatever happens.
func (t *tempFile) link(dst string) error {
	if t.path == "" {
		err := atomicio.LinkUnnamed(t.File, dst)
		if cerr := t.Close(); err == nil {
			err = cerr
		}
		return err
	}
	defer os.Remove(t.path)
	if err := t.Close(); err != nil {
		return err
	}
	return os.Link(t.path, dst)
}

// discard drops an upload that will not be stored.
func (t *tempFile) discard() {
	t.Close()
	if t.path != "" {
		os.Remove(t.path)
	}
}
