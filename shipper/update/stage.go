package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"cis490/internal/release"
	"cis490/internal/wire"
)

// errTransient marks a staging failure worth retrying at the next run (the
// receiver unreachable, a download cut short).
var errTransient = errors.New("transient")

// stage downloads the artifact (resuming a partial download), checks its
// size and sha256, unpacks it into releases/<version>/ and checks the
// release's SHA256SUMS. It returns the release directory.
func (e *Engine) stage(ctx context.Context, m release.Manifest, a release.Artifact) (string, error) {
	root := e.path(ReleasesDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(root, m.Version)
	if CheckSums(dir) == nil {
		// Kept from before (going back to the previous release) or staged
		// by a run that stopped after unpacking.
		return dir, nil
	}
	dl := filepath.Join(root, ".download-"+a.File)
	if err := e.download(ctx, a, dl); err != nil {
		return "", err
	}
	f, err := os.Open(dl)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tmp := filepath.Join(root, ".unpack-"+m.Version)
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := Unpack(f, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		_ = os.Remove(dl)
		return "", fmt.Errorf("unpack %s: %w", a.File, err)
	}
	if err := CheckSums(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		_ = os.Remove(dl)
		return "", fmt.Errorf("release %s: %w", m.Version, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	_ = os.Remove(dl)
	return dir, nil
}

// download fetches the artifact into path (FetchArtifact with the
// engine's client).
func (e *Engine) download(ctx context.Context, a release.Artifact, path string) error {
	return FetchArtifact(ctx, e.Client, a, path)
}

// FetchArtifact downloads a release artifact into path, continuing a
// partial file with a Range request, then checks its size and sha256. A
// mismatch removes the file: the next run starts over. The hash runs in its
// own goroutine beside the transfer, so the download takes about the longer
// of the two rather than their sum (sha256 without CPU support runs at
// ≈ 400 MB/s, slower than loopback). Errors of the transfer wrap
// errTransient.
func FetchArtifact(ctx context.Context, c Client, a release.Artifact, path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := newAsyncHash()
	have, err := io.Copy(h, f)
	if err != nil {
		h.Sum()
		return err
	}
	if have > a.Bytes {
		h.Sum()
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		h = newAsyncHash()
		have = 0
	}
	if have < a.Bytes {
		w := &limitWriter{w: io.MultiWriter(f, h), left: a.Bytes - have}
		if err := c.Download(ctx, wire.ReleaseFilesPrefix+a.File, have, w); err != nil {
			h.Sum()
			if w.over {
				_ = os.Remove(path)
				return fmt.Errorf("%s is larger than the manifest's %d bytes", a.File, a.Bytes)
			}
			return fmt.Errorf("%w: %v", errTransient, err)
		}
		have = a.Bytes - w.left
	}
	got := hex.EncodeToString(h.Sum())
	if have != a.Bytes {
		_ = os.Remove(path)
		return fmt.Errorf("%s: %d bytes, the manifest says %d", a.File, have, a.Bytes)
	}
	if got != strings.ToLower(a.SHA256) {
		_ = os.Remove(path)
		return fmt.Errorf("%s: sha256 %s, the manifest says %s", a.File, got, a.SHA256)
	}
	// No fsync: a file cut by a power loss fails its sha256 at the next
	// run, which hashes what is on disk before it resumes.
	return nil
}

// asyncHash is a sha256 fed by a goroutine, so hashing overlaps the
// transfer: Write copies the bytes into one of a fixed set of buffers and
// hands it over; Sum waits for the goroutine and returns the digest. The
// buffers are reused, so the hash costs no fresh memory per write (fresh
// pages are what the copy would otherwise pay for, byte for byte).
type asyncHash struct {
	ch   chan []byte
	free chan []byte
	done chan []byte
}

const (
	hashBufs    = 4
	hashBufSize = 256 << 10
)

func newAsyncHash() *asyncHash {
	a := &asyncHash{ch: make(chan []byte, hashBufs), free: make(chan []byte, hashBufs), done: make(chan []byte, 1)}
	for i := 0; i < hashBufs; i++ {
		a.free <- make([]byte, hashBufSize)
	}
	go func() {
		h := sha256.New()
		for b := range a.ch {
			h.Write(b)
			a.free <- b[:cap(b)]
		}
		a.done <- h.Sum(nil)
	}()
	return a
}

func (a *asyncHash) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		b := <-a.free
		k := copy(b, p)
		a.ch <- b[:k]
		p = p[k:]
	}
	return n, nil
}

// Sum ends the hash; call it exactly once.
func (a *asyncHash) Sum() []byte {
	close(a.ch)
	return <-a.done
}

// limitWriter refuses bytes beyond left.
type limitWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		l.over = true
		return 0, errors.New("more bytes than the manifest says")
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	return n, err
}
