// Package pack writes an episode directory as the deterministic tarball of
// SPEC §3.1: a single zstd frame around a USTAR tar (PAX records where
// needed), packed, compressed and hashed in one streaming pass whose memory
// does not grow with the episode.
package pack

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/klauspost/compress/zstd"

	"cis490/internal/wire"
)

// DefaultLevel is the zstd level used when Options.Level is zero (SPEC §11
// zstd_level).
const DefaultLevel = 3

// WindowSize is the zstd window: the most history the encoder keeps and so
// the most memory a decoder needs. It is fixed, never derived from the
// machine, because it shapes the output bytes.
const WindowSize = 8 << 20

// readBufSize is the size of the one buffer file contents pass through.
const readBufSize = 1 << 20

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
	// Level is the zstd level (1–22, mapped to the encoder's four speeds);
	// zero means DefaultLevel.
	Level int
	// Progress, when non-nil, is called with the number of bytes read from
	// the tree so far, so a watchdog can tell a slow pack from a stuck one.
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
// stream that the caller must discard.
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
	if err := sameDir(dir, rootInfo, "."); err != nil {
		return Result{}, ErrVanished
	}

	out := &hashWriter{w: w, h: sha256.New()}
	enc, err := newEncoder(out, opts.Level)
	if err != nil {
		return Result{}, err
	}
	p := &packer{
		ctx:      ctx,
		tw:       tar.NewWriter(enc),
		buf:      make([]byte, readBufSize),
		progress: opts.Progress,
		log:      opts.Logger,
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	err = p.tw.WriteHeader(header(tar.TypeDir, id+"/", rootInfo))
	if err == nil {
		err = p.walk(dir, id+"/")
	}
	if err == nil {
		err = p.tw.Close()
	}
	if err == nil {
		err = enc.Close()
	} else {
		enc.Close() // release the encoder; its output is discarded
	}
	if vanished() {
		return Result{}, ErrVanished
	}
	if err != nil {
		return Result{}, err
	}
	return Result{SHA256: hex.EncodeToString(out.h.Sum(nil)), Bytes: out.n}, nil
}

// newEncoder returns a single-frame, single-goroutine zstd encoder whose
// output depends only on its input and level.
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

// hashWriter passes writes to w and hashes and counts what w accepted.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(b []byte) (int, error) {
	n, err := hw.w.Write(b)
	hw.h.Write(b[:n])
	hw.n += int64(n)
	return n, err
}

// packer holds the state of one pack: the tar stream, the copy buffer and
// the running count of bytes read.
type packer struct {
	ctx      context.Context
	tw       *tar.Writer
	buf      []byte
	read     int64
	progress func(int64)
	log      *slog.Logger
}

// walk writes the entries of dir, whose tar name is prefix (ending in "/"),
// sorted bytewise by name, each directory followed by its contents
// (SPEC §13).
func (p *packer) walk(dir *os.Root, prefix string) error {
	d, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("open %s: %w", prefix, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("read dir %s: %w", prefix, err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if err := p.entry(dir, name, prefix+name); err != nil {
			return err
		}
	}
	return nil
}

// entry writes one directory entry and, for a directory, its contents.
func (p *packer) entry(dir *os.Root, name, tarName string) error {
	fi, err := dir.Lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s disappeared", ErrChanged, tarName)
		}
		return fmt.Errorf("lstat %s: %w", tarName, err)
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		return p.file(dir, name, tarName, fi)
	case mode.IsDir():
		if err := p.tw.WriteHeader(header(tar.TypeDir, tarName+"/", fi)); err != nil {
			return fmt.Errorf("write %s/: %w", tarName, err)
		}
		sub, err := dir.OpenRoot(name)
		if err != nil {
			return fmt.Errorf("open %s/: %w", tarName, err)
		}
		defer sub.Close()
		if err := sameDir(sub, fi, "."); err != nil {
			return fmt.Errorf("%w: %s/ replaced", ErrChanged, tarName)
		}
		return p.walk(sub, tarName+"/")
	case mode&fs.ModeSymlink != 0:
		target, err := dir.Readlink(name)
		if err != nil {
			return fmt.Errorf("readlink %s: %w", tarName, err)
		}
		h := header(tar.TypeSymlink, tarName, fi)
		h.Linkname = target
		if err := p.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", tarName, err)
		}
		return nil
	default:
		p.log.Warn("pack: skipping special file", "path", tarName, "type", mode.Type().String())
		return nil
	}
}

// file writes a regular file. The header's size comes from the open file, and
// exactly that many bytes must be readable, no more: a file that grows,
// shrinks or is replaced while being read fails with ErrChanged rather than
// producing a tar whose header and contents disagree.
func (p *packer) file(dir *os.Root, name, tarName string, fi fs.FileInfo) error {
	f, err := dir.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s disappeared", ErrChanged, tarName)
		}
		return fmt.Errorf("open %s: %w", tarName, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", tarName, err)
	}
	if !os.SameFile(fi, st) || !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s replaced", ErrChanged, tarName)
	}
	if err := p.tw.WriteHeader(header(tar.TypeReg, tarName, st)); err != nil {
		return fmt.Errorf("write %s: %w", tarName, err)
	}
	for remaining := st.Size(); remaining > 0; {
		chunk := p.buf
		if remaining < int64(len(chunk)) {
			chunk = chunk[:remaining]
		}
		n, err := io.ReadFull(f, chunk)
		if n > 0 {
			if _, werr := p.tw.Write(chunk[:n]); werr != nil {
				return fmt.Errorf("write %s: %w", tarName, werr)
			}
			remaining -= int64(n)
			p.read += int64(n)
			if p.progress != nil {
				p.progress(p.read)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s shrank while being read", ErrChanged, tarName)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", tarName, err)
		}
		if err := p.ctx.Err(); err != nil {
			return err
		}
	}
	if n, _ := f.Read(p.buf[:1]); n > 0 {
		return fmt.Errorf("%w: %s grew while being read", ErrChanged, tarName)
	}
	after, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", tarName, err)
	}
	if after.Size() != st.Size() || !after.ModTime().Equal(st.ModTime()) {
		return fmt.Errorf("%w: %s modified while being read", ErrChanged, tarName)
	}
	return nil
}

// sameDir reports an error unless name in dir is the directory described by fi.
func sameDir(dir *os.Root, fi fs.FileInfo, name string) error {
	st, err := dir.Stat(name)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, st) {
		return ErrChanged
	}
	return nil
}

// header builds the canonical header of SPEC §3.1: permission bits including
// setuid, setgid and sticky, mtime in whole seconds, owner 0:0 with no names,
// no atime or ctime. Format PAX lets archive/tar use plain USTAR whenever it
// can and PAX records only when it must, and never GNU extensions.
func header(typ byte, name string, fi fs.FileInfo) *tar.Header {
	mode := fi.Mode()
	m := int64(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	h := &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     m,
		ModTime:  time.Unix(fi.ModTime().Unix(), 0),
		Format:   tar.FormatPAX,
	}
	if typ == tar.TypeReg {
		h.Size = fi.Size()
	}
	return h
}
