package store

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
)

// Chunk size and count of the ingest pipeline: enough in flight to keep the
// hasher and the writer both busy, small enough that many concurrent uploads
// stay within a few MiB.
const (
	chunkSize = 256 << 10
	chunks    = 3
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// copyHashed copies r to w and returns the sha256 of what it copied. Hashing
// runs in its own goroutine, overlapped with reading and writing, so a large
// body costs about max(hash, write) rather than their sum.
func copyHashed(w io.Writer, r io.Reader, progress func(int64)) (sum string, n int64, err error) {
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
	<-done
	for i := 0; i < chunks; i++ {
		chunkPool.Put(<-free)
	}
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashFile returns the sha256 and length of the named file.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return copyHashed(io.Discard, f, nil)
}
