package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"cis490/internal/atomicio"
)

// ErrVanished reports that an episode directory disappeared before it could
// be moved: another process (quarantine-unstamped, an operator) moved it.
var ErrVanished = errors.New("episode directory vanished")

// maxCollisions bounds the search for a free name in shipped/ or quarantine/.
const maxCollisions = 1000

// moveFree renames src into dstDir under name, or name.1, name.2, … when
// taken, never replacing anything, and fsyncs both directories. It returns
// the name used; a missing src is ErrVanished.
func moveFree(src, dstDir, name string) (string, error) {
	for i := 0; i < maxCollisions; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s.%d", name, i)
		}
		err := atomicio.RenameNoReplace(src, filepath.Join(dstDir, cand))
		switch {
		case err == nil:
			if err := atomicio.SyncDir(filepath.Dir(src)); err != nil {
				return cand, err
			}
			return cand, atomicio.SyncDir(dstDir)
		case errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY):
			continue
		case errors.Is(err, fs.ErrNotExist):
			if _, serr := os.Lstat(src); errors.Is(serr, fs.ErrNotExist) {
				return "", fmt.Errorf("move %s: %w", src, ErrVanished)
			}
			return "", fmt.Errorf("move %s: %w", src, err)
		default:
			return "", fmt.Errorf("move %s: %w", src, err)
		}
	}
	return "", fmt.Errorf("move %s: no free name in %s after %d tries", src, dstDir, maxCollisions)
}
