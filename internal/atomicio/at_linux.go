package atomicio

import (
	"syscall"
	"unsafe"
)

// atFDCWD is AT_FDCWD: paths relative to the working directory.
const atFDCWD = -0x64

// at2 makes a two-path *at(2) system call (renameat2) as (AT_FDCWD,
// oldpath, AT_FDCWD, newpath, flags).
func at2(trap uintptr, oldpath, newpath string, flags uintptr) error {
	o, err := syscall.BytePtrFromString(oldpath)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newpath)
	if err != nil {
		return err
	}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(o)),
		uintptr(fd), uintptr(unsafe.Pointer(n)), flags, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
