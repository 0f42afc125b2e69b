package atomicio

import (
	"io/fs"
	"os"
)

// renameNoReplaceFallback is used where renameat2(RENAME_NOREPLACE) is not
// available: the check and the rename are two steps, which is enough for a
// directory with one writer (the shipper's daemon, or quarantine-unstamped
// beside it), since rename(2) refuses a non-empty target directory.
func renameNoReplaceFallback(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}
