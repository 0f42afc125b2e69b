package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// TestSmallUploadSkipsThePageCache checks that a small upload's whole
// blocks reach the file without being cached: of a chunk and a bit, at most
// the tail's page is resident afterwards.
func TestSmallUploadSkipsThePageCache(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_WRONLY|syscall.O_DIRECT, 0o640)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("the file system of %s refuses O_DIRECT", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	s, _ := mustOpen(t, dir)
	size := chunkSize - 100 // whole blocks and a tail
	body, sha := randomBody(size)
	if _, err := s.Ingest("ep1", bytes.NewReader(body), int64(size), sha, Meta{}, nil); err != nil {
		t.Fatal(err)
	}
	resident, pages := residentPages(t, s.Path("ep1"))
	if resident > 1 {
		t.Errorf("%d of the stored file's %d pages are in the page cache, want at most the tail's", resident, pages)
	}
	if got, n, err := hashFile(s.Path("ep1")); err != nil || got != sha || n != int64(size) {
		t.Errorf("stored file hashes to %s (%d bytes, %v)", got, n, err)
	}
}

// residentPages maps path and counts its pages in the page cache (mincore).
func residentPages(t *testing.T, path string) (resident, pages int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	ps := os.Getpagesize()
	vec := make([]byte, (len(m)+ps-1)/ps)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, len(vec)
}
