package store

import (
	"errors"
	"os"
	"syscall"
)

// openSpareFile creates the spare file path and asks for direct I/O on it
// (O_DIRECT; direct reports whether the file system agreed). It opens with
// syscall.Open and os.NewFile because os.OpenFile tries to register every
// regular file with the network poller, three fcntls and an epoll_ctl per
// spare spent for nothing.
func openSpareFile(path string) (f *os.File, direct bool, err error) {
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	direct = setDirect(uintptr(fd), true) == nil
	return os.NewFile(uintptr(fd), path), direct, nil
}

// setDirect turns O_DIRECT on or off for fd, a spare's: of the flags
// F_SETFL can change, a spare has no other set, so it sets them outright
// rather than reading them first. EINVAL means the file system does not do
// direct I/O.
func setDirect(fd uintptr, on bool) error {
	flags := uintptr(0)
	if on {
		flags = syscall.O_DIRECT
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFL, flags); e != 0 {
		return e
	}
	return nil
}

// writeNew writes b as the whole content of the empty spare. The whole
// 4 KiB blocks of b go to the disk directly when the spare is open for
// direct I/O, the tail through the page cache. An upload is written once
// and not read again soon, so caching it only costs: a copy into freshly
// allocated pages for every byte, which on a VM whose host takes freed
// memory back costs more than the hash (docs/BENCHMARKS.md, "Small uploads
// past the page cache"), and page cache the Pi has better uses for. Where
// direct I/O is refused, or b is not aligned in memory, everything goes
// through the page cache. Durability is unchanged: nothing is durable
// before the fsync that follows.
func (s *spare) writeNew(b []byte) error {
	whole := len(b) &^ (directAlign - 1)
	done := 0
	if s.direct && whole > 0 && isAligned(b) {
		// EINVAL: direct I/O refused after all; the rest goes buffered.
		n, err := s.WriteAt(b[:whole], 0)
		if err != nil && !errors.Is(err, syscall.EINVAL) {
			return err
		}
		done = n
	}
	if done == len(b) {
		return nil
	}
	if err := s.buffered(); err != nil {
		return err
	}
	if _, err := s.WriteAt(b[done:], int64(done)); err != nil {
		return err
	}
	if len(b)-done >= directAlign {
		// Direct I/O was refused: start the writeback now, so the fsync
		// finds less to do.
		startWriteback(s.File, int64(done), int64(len(b)-done))
	}
	return nil
}

// buffered turns direct I/O off, for writes that are not whole blocks.
func (s *spare) buffered() error {
	if !s.direct {
		return nil
	}
	rc, err := s.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = setDirect(fd, false) }); cerr != nil {
		return cerr
	}
	if err == nil {
		s.direct = false
	}
	return err
}
