package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"time"
)

// packer is the first stage of a pack: it walks the tree and writes the tar
// stream into out, reading file contents straight into out's buffers.
type packer struct {
	ctx      context.Context
	out      *chunks
	read     int64
	progress func(int64)
	log      *slog.Logger
	hdr      bytes.Buffer
}

// zeros pads file contents to whole tar blocks and ends the archive.
var zeros [2 * blockSize]byte

const blockSize = 512

// pack writes the root entry, the tree and the end-of-archive marker.
func (p *packer) pack(dir *os.Root, id string, rootInfo fs.FileInfo) error {
	if err := p.header(header(tar.TypeDir, id+"/", rootInfo)); err != nil {
		return err
	}
	if err := p.walk(dir, id+"/"); err != nil {
		return err
	}
	_, err := p.out.Write(zeros[:])
	return err
}

// header writes the tar header blocks of h (a PAX extended header first when
// needed). It uses a fresh tar.Writer whose only job is the encoding, so the
// contents can bypass archive/tar and be read straight into the stream; the
// bytes are those a single tar.Writer would produce.
func (p *packer) header(h *tar.Header) error {
	p.hdr.Reset()
	if err := tar.NewWriter(&p.hdr).WriteHeader(h); err != nil {
		return fmt.Errorf("tar header %s: %w", h.Name, err)
	}
	_, err := p.out.Write(p.hdr.Bytes())
	return err
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
			return context.Cause(p.ctx)
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
		if err := p.header(header(tar.TypeDir, tarName+"/", fi)); err != nil {
			return err
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
		return p.header(h)
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
	if err := p.header(header(tar.TypeReg, tarName, st)); err != nil {
		return err
	}
	for remaining := st.Size(); remaining > 0; {
		buf, err := p.out.space()
		if err != nil {
			return err
		}
		if remaining < int64(len(buf)) {
			buf = buf[:remaining]
		}
		n, err := io.ReadFull(f, buf)
		p.out.commit(n)
		remaining -= int64(n)
		p.read += int64(n)
		if p.progress != nil && n > 0 {
			p.progress(p.read)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s shrank while being read", ErrChanged, tarName)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", tarName, err)
		}
		if p.ctx.Err() != nil {
			return context.Cause(p.ctx)
		}
	}
	if pad := -st.Size() & (blockSize - 1); pad > 0 {
		if _, err := p.out.Write(zeros[:pad]); err != nil {
			return err
		}
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
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
