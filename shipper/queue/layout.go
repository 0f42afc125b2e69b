// Package queue is the shipper's episode queue on a lab host (SPEC §3, §8):
// it finds ready episodes under data_dir, packs and uploads them one at a
// time, oldest first, and retires each to shipped/ or quarantine/ by the
// receiver's answer. Every move is a rename within data_dir, so an episode
// directory is always in exactly one of episodes/, shipped/, quarantine/.
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

// Dirs names the shipper's directories under data_dir (SPEC §3).
type Dirs struct {
	Root       string
	Episodes   string
	Outbox     string
	Shipped    string
	Quarantine string
}

// Layout returns the directories under dataDir.
func Layout(dataDir string) Dirs {
	return Dirs{
		Root:       dataDir,
		Episodes:   filepath.Join(dataDir, "episodes"),
		Outbox:     filepath.Join(dataDir, "outbox"),
		Shipped:    filepath.Join(dataDir, "shipped"),
		Quarantine: filepath.Join(dataDir, "quarantine"),
	}
}

// Ensure creates any missing directory of the layout.
func (d Dirs) Ensure() error {
	for _, p := range []string{d.Episodes, d.Outbox, d.Shipped, d.Quarantine} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("data dir: %w", err)
		}
	}
	return nil
}

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
		err := renameNoReplace(src, filepath.Join(dstDir, cand))
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

// renameNoReplaceFallback is used where renameat2(RENAME_NOREPLACE) is not
// available: the check and the rename are two steps, which is enough for
// the one writer (the daemon, or quarantine-unstamped beside it) that moves
// into these directories, since rename(2) refuses a non-empty target.
func renameNoReplaceFallback(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
