package store

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
	"unsafe"
)

// Tuning of the ingest pipeline.
//
// A chunk is one read from the body, one write and one hash step; chunks of
// them circulate per upload, so eight concurrent uploads hold 8 × 768 KiB.
// Every writebackEvery bytes the written range is handed to the kernel for
// writeback (see startWriteback), so the disk works while the rest of the
// body arrives and the final fsync only waits for the tail.
const (
	chunkSize      = 256 << 10
	chunks         = 3
	writebackEvery = 8 << 20
)

// directAlign is the alignment direct I/O asks of a buffer's address, a
// write's length and its offset (the largest logical block size in use).
const directAlign = 4096

// chunkPool holds chunkSize buffers aligned for direct I/O (see writeNew).
var chunkPool = sync.Pool{New: func() any {
	b := make([]byte, chunkSize+directAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % directAlign); r != 0 {
		off = directAlign - r
	}
	b = b[off : off+chunkSize : off+chunkSize]
	return &b
}}

// smallBody reports whether a body of size bytes (-1: unknown) is read in
// one chunk and written at once (copyHashingSmall).
func smallBody(size int64) bool { return size >= 0 && size <= chunkSize }

// isAligned reports whether b starts on a directAlign boundary.
func isAligned(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(&b[0]))%directAlign == 0
}

// copyHashed copies r to w and returns the sha256 of what it copied (see
// copyHashing).
func copyHashed(w io.Writer, r io.Reader, size int64, progress func(int64)) (sum string, n int64, err error) {
	n, digest, err := copyHashing(w, r, size, progress)
	sum = digest()
	return sum, n, err
}

// copyHashing copies r to w while hashing what it copies, and returns once
// the copy is done: digest waits for the hash and returns it (hex), and must
// be called exactly once, whatever err is. So the caller can fsync what it
// wrote while the last bytes are still being hashed. size is the expected
// length (-1 if unknown): a body that fits one chunk is read once, then
// written (past the page cache into a spare: spare.writeNew) while it is
// hashed; a larger one is hashed chunk by chunk in its own goroutine,
// overlapped with reading and writing, so it costs about max(hash, write)
// rather than their sum. When w is an *os.File, written ranges are pushed
// to disk early (see startWriteback).
func copyHashing(w io.Writer, r io.Reader, size int64, progress func(int64)) (n int64, digest func() string, err error) {
	if smallBody(size) {
		return copyHashingSmall(w, r, size, progress)
	}
	var wb *writeback
	if f, ok := w.(*os.File); ok {
		wb = newWriteback(f)
	}
	free := make(chan *[]byte, chunks)
	full := make(chan []byte, chunks)
	for i := 0; i < chunks; i++ {
		free <- chunkPool.Get().(*[]byte)
	}
	h := sha256.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			h.Write(b)
			bp := b[:cap(b)]
			free <- &bp
		}
	}()
	for {
		bp := <-free
		buf := *bp
		m, rerr := io.ReadFull(r, buf)
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				err = werr
				free <- bp
				break
			}
			n += int64(m)
			full <- buf[:m]
			if wb != nil {
				wb.written(n)
			}
			if progress != nil {
				progress(n)
			}
		} else {
			free <- bp
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(full)
	return n, func() string {
		<-done
		for i := 0; i < chunks; i++ {
			chunkPool.Put(<-free)
		}
		return hex.EncodeToString(h.Sum(nil))
	}, err
}

// copyHashingSmall is copyHashing for a body of at most one chunk: one
// read, then one write and the hash. Into a spare the write goes past the
// page cache (spare.writeNew) and waits for the disk, so it runs in its own
// goroutine while this one hashes; into anything else it is a copy, and the
// hash follows it on the same thread (a goroutine would cost more in
// hand-offs than it saves when many uploads arrive at once).
func copyHashingSmall(w io.Writer, r io.Reader, size int64, progress func(int64)) (int64, func() string, error) {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := (*bp)[:size]
	m, rerr := io.ReadFull(r, buf)
	var werr error
	var s [sha256.Size]byte
	if nw, ok := w.(interface{ writeNew([]byte) error }); ok && m > 0 {
		// A direct write waits for the disk: the hash runs meanwhile.
		done := make(chan error, 1)
		go func() { done <- nw.writeNew(buf[:m]) }()
		s = sha256.Sum256(buf[:m])
		werr = <-done
	} else {
		if m > 0 {
			_, werr = w.Write(buf[:m])
		}
		s = sha256.Sum256(buf[:m])
	}
	if m > 0 && werr == nil && progress != nil {
		progress(int64(m))
	}
	digest := func() string { return hex.EncodeToString(s[:]) }
	if werr != nil {
		return 0, digest, werr
	}
	if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
		return int64(m), digest, rerr
	}
	return int64(m), digest, nil
}

// writeback starts the writeback of a file's written ranges while it is
// being written, and waits for a range two windows back, so at most two
// windows per upload are dirty or in flight when the final fsync comes.
type writeback struct {
	f       *os.File
	started int64 // bytes handed to writeback so far
	waited  int64 // bytes known to be on the disk (not yet durable: no flush)
}

func newWriteback(f *os.File) *writeback { return &writeback{f: f} }

// written reports that the file now holds n bytes.
func (wb *writeback) written(n int64) {
	if n-wb.started < writebackEvery {
		return
	}
	if wb.started-wb.waited >= writebackEvery {
		// Wait for the previous window before starting a new one: a body
		// arriving faster than the disk writes is slowed to disk speed here
		// instead of piling up dirty pages.
		waitWriteback(wb.f, wb.waited, wb.started-wb.waited)
		wb.waited = wb.started
	}
	startWriteback(wb.f, wb.started, n-wb.started)
	wb.started = n
}

// hashFile returns the sha256 and length of the named file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return copyHashed(io.Discard, f, -1, nil)
}
