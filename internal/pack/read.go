package pack

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/klauspost/compress/zstd"
)

var (
	// ErrNoMember reports that a tarball holds no regular file of the
	// requested name. It matches fs.ErrNotExist.
	ErrNoMember = fmt.Errorf("tarball member: %w", fs.ErrNotExist)

	// ErrTooLarge reports that a member is larger than the caller's bound.
	ErrTooLarge = errors.New("tarball member too large")
)

// MetaMember is the episode's meta.json inside its tarball, below the top
// directory.
const MetaMember = "meta.json"

// maxDecoderWindow bounds the memory a hostile or foreign frame can make
// the decoder allocate.
const maxDecoderWindow = 64 << 20

// ReadMember returns the contents of <root>/<member> from a .tar.zst stream,
// where <root> is the tarball's top directory (the episode id), for example
// member MetaMember. It reads at most maxBytes of the member and fails with
// ErrTooLarge beyond that, with ErrNoMember when there is no such regular
// file, and with the decoder's error when the stream is corrupt. The
// receiver's index-backfill reads stored tarballs with it.
func ReadMember(r io.Reader, member string, maxBytes int64) ([]byte, error) {
	dec, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxDecoderWindow),
		zstd.WithDecoderMaxMemory(maxDecoderWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", member, err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", member, ErrNoMember)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", member, err)
		}
		_, rest, ok := strings.Cut(h.Name, "/")
		if !ok || rest != member || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxBytes {
			return nil, fmt.Errorf("read %s: %w: %d bytes, limit %d", member, ErrTooLarge, h.Size, maxBytes)
		}
		b, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", member, err)
		}
		return b, nil
	}
}
