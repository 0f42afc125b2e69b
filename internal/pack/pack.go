// Package pack writes an episode directory as the deterministic tarball of
// SPEC §3.1: a single zstd frame around a USTAR tar (PAX records where
// needed), packed, compressed and hashed in one streaming pass whose memory
// does not grow with the episode.
//
// The pass runs as three goroutines joined by a few fixed buffers: one walks
// the tree and produces the tar stream, one compresses it, one hashes the
// compressed bytes and writes them out. The output depends only on the tree
// and the level, never on timing or on the machine.
//
// It owns the episode tarball's format on both sides: the shipper packs with
// Write and ToOutbox, and the receiver's index-backfill reads meta.json back
// with ReadMember, so the package sits in internal/.
package pack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"

	"github.com/klauspost/compress/zstd"

	"cis490/internal/wire"
)

// DefaultLevel is the zstd level used when Options.Level is zero (SPEC §11
// zstd_level).
const DefaultLevel = 3

// WindowSize is the zstd window: the most history the encoder keeps and so
// the most memory a decoder needs. It is fixed, never derived from the
// machine, because it shapes the output bytes.
const WindowSize = 4 << 20

// Buffers between the stages: enough to keep every stage busy, few enough
// that a pack's memory is the encoder's window plus a few MiB.
const (
	tarChunks    = 4
	tarChunkSize = 256 << 10
	outChunks    = 4
	outChunkSize = 256 << 10
)

var (
	// ErrVanished reports that the episode directory disappeared or was
	// replaced while it was being packed, typically moved away by
	// quarantine-unstamped (SPEC §13).
	ErrVanished = errors.New("episode directory vanished during packing")

	// ErrChanged reports that a file or directory changed while it was being
	// read (size, identity or mtime), so the tarball would not be a faithful
	// snapshot.
	ErrChanged = errors.New("episode changed during packing")
)

// Options tunes a pack.
type Options struct {
	// Level is the zstd level (1–22, mapped to the encoder's four speeds by
	// zstd.EncoderLevelFromZstd); zero means DefaultLevel.
	Level int
	// Progress, when non-nil, is called with the number of bytes read from
	// the tree so far, so a watchdog can tell a slow pack from a stuck one.
	// It is called from the goroutine reading the tree, one call at a time.
	Progress func(n int64)
	// Logger receives warnings about skipped entries; nil means slog.Default.
	Logger *slog.Logger
}

// Result describes the compressed output of a pack.
type Result struct {
	SHA256 string // lowercase hex sha256 of the .tar.zst bytes
	Bytes  int64  // length of the .tar.zst bytes
}

// Write streams root as the deterministic tar+zstd of SPEC §3.1, with every
// entry under the prefix "<id>/", into w, and returns the sha256 and length
// of what it wrote. Symlinks are stored, never followed; FIFOs, sockets and
// devices are skipped with a warning. It fails with ErrVanished when root is
// missing or is moved away before the pack completes, and with ErrChanged
// when a file changes while it is read. On error, w holds an incomplete
// stream that the caller must discard. w is written from a goroutine of its
// own, never concurrently, and not after Write returns.
func Write(ctx context.Context, w io.Writer, root, id string, opts Options) (Result, error) {
	if !wire.ValidID(id) {
		return Result{}, fmt.Errorf("pack %q: invalid episode id", id)
	}
	res, err := write(ctx, w, root, id, opts)
	if err != nil {
		return Result{}, fmt.Errorf("pack %s: %w", id, err)
	}
	return res, nil
}

func write(ctx context.Context, w io.Writer, root, id string, opts Options) (Result, error) {
	rootInfo, err := os.Lstat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("%w: %v", ErrVanished, err)
	}
	if err != nil {
		return Result{}, err
	}
	if !rootInfo.IsDir() {
		return Result{}, fmt.Errorf("%s is not a directory", root)
	}
	dir, err := os.OpenRoot(root)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("%w: %v", ErrVanished, err)
	}
	if err != nil {
		return Result{}, err
	}
	defer dir.Close()
	// The walk reads through directory handles, so a rename of root does
	// not interrupt it; identity is checked again at the end instead.
	vanished := func() bool {
		now, err := os.Lstat(root)
		return err != nil || !os.SameFile(rootInfo, now)
	}
	if sameDir(dir, rootInfo, ".") != nil {
		return Result{}, ErrVanished
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tarStream := newChunks(ctx, tarChunks, tarChunkSize)
	compressed := newChunks(ctx, outChunks, outChunkSize)
	enc, err := newEncoder(compressed, opts.Level)
	if err != nil {
		return Result{}, err
	}
	var wg sync.WaitGroup

	// Stage 1: the tree as a tar stream.
	p := &packer{ctx: ctx, out: tarStream, progress: opts.Progress, log: opts.Logger}
	if p.log == nil {
		p.log = slog.Default()
	}
	wg.Go(func() {
		defer tarStream.closeWrite()
		if err := p.pack(dir, id, rootInfo); err != nil {
			cancel(err)
		}
	})

	// Stage 3: hash and write the compressed bytes.
	h := sha256.New()
	var n int64
	wg.Go(func() {
		for {
			b, ok := compressed.next()
			if !ok {
				return
			}
			h.Write(b)
			m, err := w.Write(b)
			n += int64(m)
			compressed.release(b)
			if err != nil {
				cancel(fmt.Errorf("write: %w", err))
				return
			}
		}
	})

	// Stage 2, here: compress. The encoder runs synchronously in this
	// goroutine and writes its output into the compressed chunks.
	for {
		b, ok := tarStream.next()
		if !ok {
			break
		}
		_, err := enc.Write(b)
		tarStream.release(b)
		if err != nil {
			cancel(fmt.Errorf("compress: %w", err))
			break
		}
	}
	if context.Cause(ctx) == nil {
		if err := enc.Close(); err != nil {
			cancel(fmt.Errorf("compress: %w", err))
		}
	}
	compressed.closeWrite()
	wg.Wait()

	if vanished() {
		return Result{}, ErrVanished
	}
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	return Result{SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n}, nil
}

// newEncoder returns a single-frame, single-goroutine zstd encoder whose
// output depends only on its input and level. Literal-only blocks are stored
// without entropy coding (the encoder's default at levels below 6): on
// float arrays that costs a few percent of size but saves about a sixth of
// the CPU time of a pack (docs/BENCHMARKS.md, Packing).
func newEncoder(w io.Writer, level int) (*zstd.Encoder, error) {
	if level == 0 {
		level = DefaultLevel
	}
	return zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true),
		zstd.WithWindowSize(WindowSize),
	)
}
