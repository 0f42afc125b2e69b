package store

import (
	"fmt"
	"io"

	"cis490/internal/index"
)

// Adopt stores an episode brought back from elsewhere (a replica restore)
// under its original index row: body must hash to row.SHA256 and be
// row.Bytes long; line is the row's index line as it was written, appended
// unchanged. Like Ingest it returns once the file, a durable name for it and
// the row are fsynced, never replaces a stored file, and must be called
// under LockID.
func (s *Store) Adopt(row index.Row, line []byte, body io.Reader) error {
	if r, err := index.Parse(line); err != nil || r.ID != row.ID || r.SHA256 != row.SHA256 {
		return fmt.Errorf("adopt %s: the line is not the row", row.ID)
	}
	sp, _, err := s.receive(body, row.Bytes, row.SHA256, nil)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", row.ID, err)
	}
	l := make([]byte, 0, len(line)+1)
	l = append(append(l, line...), '\n')
	if err := s.commit(sp, row.ID, l); err != nil {
		return fmt.Errorf("adopt %s: %w", row.ID, err)
	}
	return nil
}
