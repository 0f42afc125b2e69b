package update

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafeArchive reports a release tarball that would write outside its
// directory, holds a link leaving it, a file type a release never has, or
// more than the limits allow.
var ErrUnsafeArchive = errors.New("unsafe release archive")

// Limits of what a release tarball may unpack to.
const (
	maxUnpackBytes   = 512 << 20
	maxUnpackEntries = 10000
)

// Unpack extracts the gzip-compressed tar r into dir, which must not exist
// yet's parent must. The archive's single top-level directory is stripped
// (cis490-<version>-linux-<arch>/bin/… lands as dir/bin/…). Only regular
// files, directories and symlinks whose target stays inside dir are
// accepted; anything else, an absolute or ".." path, or an entry outside
// the top-level directory is ErrUnsafeArchive, and nothing outside dir is
// ever written.
func Unpack(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return fmt.Errorf("%w: not gzip: %v", ErrUnsafeArchive, err)
	}
	// Modes are set explicitly: the update service runs with umask 077, and
	// the release must look as a manual unpack would (0755/0644).
	if err := mkdir755(dir); err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	top := ""
	var total int64
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnsafeArchive, err)
		}
		if n >= maxUnpackEntries {
			return fmt.Errorf("%w: more than %d entries", ErrUnsafeArchive, maxUnpackEntries)
		}
		rel, err := entryPath(h.Name, &top)
		if err != nil {
			return err
		}
		if rel == "" {
			if h.Typeflag != tar.TypeDir {
				return fmt.Errorf("%w: top-level entry %q is not a directory", ErrUnsafeArchive, h.Name)
			}
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := parentsInside(dir, rel); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
				return fmt.Errorf("%w: %q is not a directory", ErrUnsafeArchive, rel)
			}
			if err := os.Chmod(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if h.Size < 0 || total > maxUnpackBytes {
				return fmt.Errorf("%w: more than %d bytes", ErrUnsafeArchive, maxUnpackBytes)
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			if err := writeEntry(dst, tr, h.Size, mode); err != nil {
				return err
			}
		case tar.TypeSymlink:
			t := h.Linkname
			if t == "" || path.IsAbs(t) {
				return fmt.Errorf("%w: symlink %q points to %q", ErrUnsafeArchive, rel, t)
			}
			if resolved := path.Join(path.Dir(rel), t); resolved == ".." || strings.HasPrefix(resolved, "../") {
				return fmt.Errorf("%w: symlink %q leaves the release (%q)", ErrUnsafeArchive, rel, t)
			}
			if err := os.Symlink(t, dst); err != nil {
				return fmt.Errorf("%w: %v", ErrUnsafeArchive, err)
			}
		default:
			return fmt.Errorf("%w: %q has type %q", ErrUnsafeArchive, rel, string(h.Typeflag))
		}
	}
	if top == "" {
		return fmt.Errorf("%w: empty archive", ErrUnsafeArchive)
	}
	return nil
}

func mkdir755(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// entryPath checks a tar name and returns it relative to the archive's one
// top-level directory ("" for that directory itself).
func entryPath(name string, top *string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry name %q", ErrUnsafeArchive, name)
	}
	for _, part := range strings.Split(strings.TrimSuffix(name, "/"), "/") {
		if part == ".." || part == "." || part == "" {
			return "", fmt.Errorf("%w: entry name %q", ErrUnsafeArchive, name)
		}
	}
	first, rest, _ := strings.Cut(strings.TrimSuffix(name, "/"), "/")
	if *top == "" {
		*top = first
	}
	if first != *top {
		return "", fmt.Errorf("%w: %q is outside the top-level directory %q", ErrUnsafeArchive, name, *top)
	}
	return rest, nil
}

// parentsInside refuses rel when one of its parent directories inside dir
// is a symlink: writing through it could land outside dir.
func parentsInside(dir, rel string) error {
	p := dir
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("%w: %q has no parent directory entry", ErrUnsafeArchive, rel)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: %q goes through a non-directory", ErrUnsafeArchive, rel)
		}
	}
	return nil
}

func writeEntry(dst string, r io.Reader, size int64, mode os.FileMode) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsafeArchive, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// CheckSums verifies dir/SHA256SUMS: every file it lists has that sha256,
// and every regular file in dir (but SHA256SUMS) is listed.
func CheckSums(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return fmt.Errorf("SHA256SUMS: %w", err)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 || name == "" {
			return fmt.Errorf("SHA256SUMS: malformed line %q", line)
		}
		listed[name] = sum
	}
	seen := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "SHA256SUMS" {
			return nil
		}
		want, ok := listed[rel]
		if !ok {
			return fmt.Errorf("SHA256SUMS does not list %s", rel)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("SHA256SUMS: %s has sha256 %s, listed %s", rel, got, want)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(listed) {
		return fmt.Errorf("SHA256SUMS lists %d files, the release holds %d of them", len(listed), seen)
	}
	return nil
}
