//go:build linux && (amd64 || arm64)

package atomicio

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

const (
	atFDCWD       = -0x64
	flagNoReplace = 0x1
)

// RenameNoReplace is rename(2) that fails with EEXIST (matching
// fs.ErrExist) instead of replacing newpath: renameat2 with
// RENAME_NOREPLACE, falling back to a checked rename on filesystems that do
// not support the flag.
func RenameNoReplace(oldpath, newpath string) error {
	o, err := syscall.BytePtrFromString(oldpath)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newpath)
	if err != nil {
		return err
	}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(sysRenameat2, uintptr(fd), uintptr(unsafe.Pointer(o)),
		uintptr(fd), uintptr(unsafe.Pointer(n)), flagNoReplace, 0)
	switch {
	case errno == 0:
		return nil
	case errors.Is(errno, syscall.ENOSYS) || errors.Is(errno, syscall.EINVAL):
		return renameNoReplaceFallback(oldpath, newpath)
	}
	return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errno}
}
