package store

import (
	"bytes"
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
	probePath := filepath.Join(dir, "probe")
	f, direct, err := openSpareFile(probePath)
	if err != nil {
		t.Fatal(err)
	}
	if !direct {
		f.Close()
		t.Skipf("the file system of %s refuses O_DIRECT", dir)
	}
	bp := chunkPool.Get().(*[]byte)
	err = (&spare{File: f, path: probePath, direct: direct}).writeNew((*bp)[:2*directAlign])
	chunkPool.Put(bp)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resident, _ := residentPages(t, probePath); resident > 0 {
		// A FUSE passthrough, for one, keeps writing through its backing
		// file's cache when O_DIRECT is set after open.
		t.Skipf("the file system of %s caches direct writes", dir)
	}
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
