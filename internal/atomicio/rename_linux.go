//go:build linux && (amd64 || arm64)

package atomicio

import (
	"errors"
	"os"
	"syscall"
)

// flagNoReplace is renameat2's RENAME_NOREPLACE.
const flagNoReplace = 0x1

// RenameNoReplace is rename(2) that fails with EEXIST (matching
// fs.ErrExist) instead of replacing newpath: renameat2 with
// RENAME_NOREPLACE, falling back to a checked rename on filesystems that do
// not support the flag.
func RenameNoReplace(oldpath, newpath string) error {
	err := at2(sysRenameat2, oldpath, newpath, flagNoReplace)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EINVAL):
		return renameNoReplaceFallback(oldpath, newpath)
	}
	return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
}
