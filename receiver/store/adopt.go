package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"cis490/internal/index"
)

// Adopt stores an episode brought back from elsewhere (a replica restore)
// under its original index row: body must hash to row.SHA256 and be
// row.Bytes long; line is the row's index line as it was written, appended
// unchanged. Like Ingest it returns once file, directory and row are
// fsynced, never replaces a stored file, and must be called under LockID.
func (s *Store) Adopt(row index.Row, line []byte, body io.Reader) error {
	if r, err := index.Parse(line); err != nil || r.ID != row.ID || r.SHA256 != row.SHA256 {
		return fmt.Errorf("adopt %s: the line is not the row", row.ID)
	}
	f, err := s.createTemp(row.ID)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", row.ID, err)
	}
	linked := false
	defer func() {
		if !linked {
			f.discard()
		}
	}()
	sum, n, err := copyHashed(f.File, io.LimitReader(body, row.Bytes+1), row.Bytes, nil)
	if err != nil {
		return fmt.Errorf("adopt %s: %w: %v", row.ID, ErrAborted, err)
	}
	if n != row.Bytes {
		return fmt.Errorf("adopt %s: %w: %d bytes, the row says %d", row.ID, ErrAborted, n, row.Bytes)
	}
	if sum != row.SHA256 {
		return fmt.Errorf("adopt %s: %w", row.ID, &MismatchError{Computed: sum})
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("adopt %s: fsync: %w", row.ID, err)
	}
	linked = true
	err = f.link(s.Path(row.ID))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("adopt %s: %w", row.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("adopt %s: %w", row.ID, err)
	}
	if err := s.dirSync.Sync(); err != nil {
		return fmt.Errorf("adopt %s: fsync store dir: %w", row.ID, err)
	}
	l := make([]byte, 0, len(line)+1)
	off, err := s.index.AppendLineAt(append(append(l, line...), '\n'))
	if err != nil {
		return s.unstore(row.ID, fmt.Errorf("adopt %s: %w", row.ID, err))
	}
	s.rows.add(row.ID, off)
	return nil
}
