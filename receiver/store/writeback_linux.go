package store

import (
	"os"
	"syscall"
)

// Flags of sync_file_range(2).
const (
	syncFileRangeWaitBefore = 0x1
	syncFileRangeWrite      = 0x2
	syncFileRangeWaitAfter  = 0x4
)

// startWriteback asks the kernel to begin writing a file range to disk
// without waiting for it. It makes nothing durable (it neither flushes the
// device cache nor writes metadata): the fsync before the link still does
// that, it only finds less left to do. Errors are ignored for the same
// reason; the fsync reports them.
func startWriteback(f *os.File, off, n int64) {
	syncFileRange(f, off, n, syncFileRangeWrite)
}

// waitWriteback waits until the writeback of a range started earlier has
// finished.
func waitWriteback(f *os.File, off, n int64) {
	syncFileRange(f, off, n, syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter)
}

func syncFileRange(f *os.File, off, n int64, flags int) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { _ = syscall.SyncFileRange(int(fd), off, n, flags) })
}
