package update

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type entry struct {
	name, link string
	typ        byte
	body       string
}

func mkTarGz(tb testing.TB, entries []entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestUnpackRefusesEscapes(t *testing.T) {
	top := entry{name: "r/", typ: tar.TypeDir}
	tests := map[string][]entry{
		"dot-dot path":             {top, {name: "r/../x", typ: tar.TypeReg, body: "x"}},
		"absolute path":            {top, {name: "/etc/x", typ: tar.TypeReg, body: "x"}},
		"second top-level dir":     {top, {name: "s/x", typ: tar.TypeReg, body: "x"}},
		"absolute symlink":         {top, {name: "r/l", link: "/etc", typ: tar.TypeSymlink}},
		"symlink leaving":          {top, {name: "r/l", link: "../../etc", typ: tar.TypeSymlink}},
		"write through a symlink":  {top, {name: "r/l", link: "d", typ: tar.TypeSymlink}, {name: "r/l/x", typ: tar.TypeReg, body: "x"}},
		"hard link":                {top, {name: "r/x", typ: tar.TypeReg, body: "x"}, {name: "r/h", link: "r/x", typ: tar.TypeLink}},
		"device":                   {top, {name: "r/dev", typ: tar.TypeChar}},
		"file replacing a symlink": {top, {name: "r/l", link: "x", typ: tar.TypeSymlink}, {name: "r/l", typ: tar.TypeReg, body: "x"}},
	}
	for name, ents := range tests {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "rel")
			err := Unpack(bytes.NewReader(mkTarGz(t, ents)), dir)
			if !errors.Is(err, ErrUnsafeArchive) {
				t.Fatalf("got %v, want ErrUnsafeArchive", err)
			}
			assertOnlyUnder(t, base, dir)
		})
	}
	t.Run("a link inside is fine", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "rel")
		ents := []entry{top, {name: "r/d/", typ: tar.TypeDir}, {name: "r/d/x", typ: tar.TypeReg, body: "hi"}, {name: "r/l", link: "d/x", typ: tar.TypeSymlink}}
		if err := Unpack(bytes.NewReader(mkTarGz(t, ents)), dir); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "l")); string(b) != "hi" {
			t.Errorf("link reads %q", b)
		}
	})
}

// assertOnlyUnder checks that base holds nothing but dir's subtree.
func assertOnlyUnder(tb testing.TB, base, dir string) {
	tb.Helper()
	filepath.Walk(base, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != base && p != dir && !strings.HasPrefix(p, dir+"/") {
			tb.Errorf("unpack wrote %s outside %s", p, dir)
		}
		return nil
	})
}

// gunzip undoes mkTarGz for the fuzz corpus: the fuzzer mutates the tar.
func gunzip(tb testing.TB, b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	out.ReadFrom(zr)
	return out.Bytes()
}

func FuzzUnpack(f *testing.F) {
	f.Add(gunzip(f, mkTarGz(f, []entry{{name: "r/", typ: tar.TypeDir}, {name: "r/a", typ: tar.TypeReg, body: "a"}})))
	f.Add(gunzip(f, mkTarGz(f, []entry{{name: "r/", typ: tar.TypeDir}, {name: "r/l", link: "../x", typ: tar.TypeSymlink}})))
	f.Add(gunzip(f, mkTarGz(f, []entry{{name: "r/../../x", typ: tar.TypeReg, body: "a"}})))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.NoCompression)
		zw.Write(raw)
		zw.Close()
		base := t.TempDir()
		dir := filepath.Join(base, "rel")
		_ = Unpack(&gz, dir)
		assertOnlyUnder(t, base, dir)
		// Every link that was created resolves inside dir.
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				resolved := filepath.Clean(filepath.Join(filepath.Dir(p), target))
				if !strings.HasPrefix(resolved, dir+"/") && resolved != dir {
					t.Errorf("link %s -> %s leaves %s", p, target, dir)
				}
			}
			return nil
		})
	})
}

func TestUnpackSetsModesWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "rel")
	ents := []entry{{name: "r/", typ: tar.TypeDir}, {name: "r/bin/", typ: tar.TypeDir}, {name: "r/bin/x", typ: tar.TypeReg, body: "#!/bin/sh\n"}, {name: "r/README", typ: tar.TypeReg, body: "hi"}}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		mode := int64(0o644)
		if e.typ == tar.TypeDir || e.name == "r/bin/x" {
			mode = 0o755
		}
		tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body))})
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	if err := Unpack(&buf, dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{"": 0o755, "bin": 0o755, "bin/x": 0o755, "README": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}
