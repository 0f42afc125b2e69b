package store

import (
	"errors"
	"os"
	"syscall"
)

// writeNew writes b as the whole content of the empty file f. The whole
// 4 KiB blocks of b go to the disk directly (O_DIRECT, set for this one
// write), the tail through the page cache. An upload is written once and
// not read again soon, so caching it only costs: a copy into freshly
// allocated pages for every byte, which on a VM whose host takes freed
// memory back costs ten times the hash (docs/BENCHMARKS.md, "Small uploads
// without the page cache"), and page cache the Pi has better uses for.
// Where the file system refuses direct I/O, or b is not aligned in memory,
// all of it goes through the page cache. Durability is unchanged: nothing
// is durable before the fsync that follows.
func writeNew(f *os.File, b []byte) error {
	whole := len(b) &^ (directAlign - 1)
	done := 0
	if whole > 0 && isAligned(b) {
		n, err := writeDirect(f, b[:whole])
		if err != nil && !errors.Is(err, syscall.EINVAL) {
			return err
		}
		done = n
	}
	if done < len(b) {
		if _, err := f.WriteAt(b[done:], int64(done)); err != nil {
			return err
		}
	}
	return nil
}

// writeDirect writes b at offset 0 of f with O_DIRECT and clears the flag
// again. EINVAL means direct I/O is not possible here; nothing was written.
func writeDirect(f *os.File, b []byte) (n int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	cerr := rc.Control(func(fd uintptr) {
		flags, ferr := fcntl(fd, syscall.F_GETFL, 0)
		if ferr != nil {
			err = ferr
			return
		}
		if _, err = fcntl(fd, syscall.F_SETFL, flags|syscall.O_DIRECT); err != nil {
			return
		}
		for n < len(b) {
			m, werr := syscall.Pwrite(int(fd), b[n:], int64(n))
			if werr == syscall.EINTR {
				continue
			}
			if werr != nil || m == 0 {
				err = werr
				break
			}
			n += m
		}
		if _, ferr := fcntl(fd, syscall.F_SETFL, flags); ferr != nil && err == nil {
			err = ferr
		}
	})
	if cerr != nil {
		return 0, cerr
	}
	return n, err
}

func fcntl(fd uintptr, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, uintptr(cmd), uintptr(arg))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
