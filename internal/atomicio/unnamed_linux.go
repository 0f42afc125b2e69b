package atomicio

import (
	"os"
	"strconv"
	"syscall"
)

// oTmpfile is O_TMPFILE: __O_TMPFILE (the same on every architecture) with
// the architecture's O_DIRECTORY.
const oTmpfile = 0o20000000 | syscall.O_DIRECTORY

// atSymlinkFollow is linkat(2)'s AT_SYMLINK_FOLLOW.
const atSymlinkFollow = 0x400

// OpenUnnamed creates a file in dir that has no name until LinkUnnamed
// gives it one (O_TMPFILE); if the process dies first, the file system
// frees it.
func OpenUnnamed(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDWR|oTmpfile, 0o600)
}

// LinkUnnamed names an unnamed file dst. Like link(2) it never replaces an
// existing dst (EEXIST). It links /proc/self/fd/<fd> with
// AT_SYMLINK_FOLLOW, which needs no privilege, unlike AT_EMPTY_PATH.
func LinkUnnamed(f *os.File, dst string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	cerr := rc.Control(func(fd uintptr) {
		lerr = linkat("/proc/self/fd/"+strconv.Itoa(int(fd)), dst)
	})
	if cerr != nil {
		return cerr
	}
	if lerr != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: dst, Err: lerr}
	}
	return nil
}

func linkat(oldpath, newpath string) error {
	return at2(syscall.SYS_LINKAT, oldpath, newpath, atSymlinkFollow)
}
