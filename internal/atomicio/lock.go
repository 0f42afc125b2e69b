package atomicio

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("held by another process")

// Lock takes an exclusive flock(2) on path, waiting while another process
// holds it. With perm 0 it opens an existing file or directory read-only,
// so locking needs no write access and leaves nothing behind; otherwise it
// creates the file with perm when missing. The lock dies with the process,
// so a killed holder never leaves it behind; unlock releases it sooner.
func Lock(path string, perm os.FileMode) (unlock func(), err error) {
	return flock(path, perm, true)
}

// TryLock is Lock without waiting: a held lock yields an error matching
// ErrLocked.
func TryLock(path string, perm os.FileMode) (unlock func(), err error) {
	return flock(path, perm, false)
}

func flock(path string, perm os.FileMode, wait bool) (func(), error) {
	var f *os.File
	var err error
	if perm == 0 {
		f, err = os.Open(path)
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
