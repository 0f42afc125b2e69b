package pack

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzNames are the pieces generated names are made of: ASCII edge cases
// around '/', the characters ids use, a multi-byte rune and a byte that is
// not UTF-8 (Linux allows any byte but '/' and NUL).
var fuzzNames = []string{"a", "Z", "0", "9", ".", "_", "-", "+", " ", ",", "=", "~", "!", "é", "\xff"}

// fuzzTree builds a tree under root from b. b is read as a program: each step takes a kind byte (file, dir,
// symlink, leave dir), a name, a mode and, for files, contents.
func fuzzTree(tb testing.TB, root string, b []byte) {
	tb.Helper()
	if err := os.Mkdir(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	next := func() byte {
		if len(b) == 0 {
			return 0
		}
		c := b[0]
		b = b[1:]
		return c
	}
	cwd := root
	for steps := 0; len(b) > 0 && steps < 64; steps++ {
		kind := next() % 4
		if kind == 3 {
			if cwd != root {
				cwd = filepath.Dir(cwd)
			}
			continue
		}
		var name strings.Builder
		for n := 1 + int(next())%120; n > 0 && name.Len() < 200; n-- {
			name.WriteString(fuzzNames[int(next())%len(fuzzNames)])
		}
		if s := name.String(); s == "." || s == ".." {
			continue
		}
		p := filepath.Join(cwd, name.String())
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		bits := int(next())<<4 | int(next()%16) // twelve bits, as in 07777
		mode := os.FileMode(bits & 0o777)
		for bit, m := range map[int]os.FileMode{0o4000: os.ModeSetuid, 0o2000: os.ModeSetgid, 0o1000: os.ModeSticky} {
			if bits&bit != 0 {
				mode |= m
			}
		}
		mtime := time.Unix(int64(next())<<24|int64(next())<<8, int64(next())*3_000_000)
		var err error
		switch kind {
		case 0:
			data := make([]byte, int(next())*int(next()))
			for i := range data {
				data[i] = next()
			}
			err = os.WriteFile(p, data, 0o600)
			if err == nil {
				err = os.Chmod(p, mode|0o400)
			}
		case 1:
			if err = os.Mkdir(p, 0o700); err == nil {
				err = os.Chmod(p, mode|0o700)
				cwd = p
			}
		case 2:
			err = os.Symlink(name.String()+"/../x", p)
		}
		if err != nil {
			tb.Fatalf("create %q: %v", p, err)
		}
		defer mustLchtime(tb, p, mtime) // after the directory is filled
	}
}

// treeEntries describes a tree on disk in the terms of a tar header:
// name (as packed under id) to type, mode, mtime, size, link and contents.
func treeEntries(tb testing.TB, root, id string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := id + "/" + filepath.ToSlash(rel)
		if rel == "." {
			name = id + "/"
		}
		h := header(tar.TypeReg, name, fi)
		var content []byte
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, strings.TrimSuffix(name, "/")+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			h.Typeflag, h.Size = tar.TypeSymlink, 0
			h.Linkname, _ = os.Readlink(p)
		default:
			content, _ = os.ReadFile(p)
		}
		out[h.Name] = describe(h, content)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func describe(h *tar.Header, content []byte) string {
	return strings.Join([]string{string(h.Typeflag), fs.FileMode(h.Mode).String(),
		h.ModTime.UTC().String(), h.Linkname, string(content)}, "|")
}

func FuzzWriteRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x05abcde\x01\xa4\x10\x20\x30\x03\x04hello"))
	f.Add([]byte("\x01\x03dir\xff\x07\x01\x02\x03\x00\x02abc\x00\x00\x00\x00\x00\x02\x02\x02lnk\x00\x00\x00\x00\x00\x03\x00\x01\x01x\x00\x00\x00\x00\x00\x00"))
	f.Add(bytes.Repeat([]byte{0, 119, 13, 0xa4, 1, 2, 3, 4, 5, 6}, 20))
	f.Fuzz(func(t *testing.T, b []byte) {
		root := filepath.Join(t.TempDir(), "ep")
		fuzzTree(t, root, b)
		first, _ := mustPack(t, root, "ep", Options{})
		second, _ := mustPack(t, root, "ep", Options{})
		if !bytes.Equal(first, second) {
			t.Fatalf("two packs of one tree differ")
		}
		want := treeEntries(t, root, "ep")
		es := mustUnpack(t, first)
		if len(es) != len(want) {
			t.Errorf("%d entries, tree has %d", len(es), len(want))
		}
		prev := ""
		for i, e := range es {
			if got := describe(e.hdr, e.data); got != want[e.hdr.Name] {
				t.Errorf("%q:\n got %.200q\nwant %.200q", e.hdr.Name, got, want[e.hdr.Name])
			}
			// Depth-first order: an entry sorts after its predecessor when
			// '/' is taken as the lowest byte.
			key := strings.ReplaceAll(e.hdr.Name, "/", "\x00")
			if i > 0 && key <= prev {
				t.Errorf("%q out of order after %q", e.hdr.Name, strings.ReplaceAll(prev, "\x00", "/"))
			}
			prev = key
		}
	})
}

func FuzzReadMember(f *testing.F) {
	f.Add([]byte(`{"code_version":{"commit":"0123456789abcdef0123456789abcdef01234567"}}`))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any input: an answer or an error, never a panic or a huge allocation.
		if got, err := ReadMember(bytes.NewReader(b), "meta.json", 1<<10); err == nil && len(got) > 1<<10 {
			t.Fatalf("read %d bytes past the limit", len(got))
		}
		// Round trip: meta.json of a packed tree comes back unchanged.
		root := filepath.Join(t.TempDir(), "ep")
		mustTree(t, root, []node{{path: "a", dir: true}, {path: "a/meta.json", data: "decoy"}, {path: "meta.json", data: string(b)}})
		packed, _ := mustPack(t, root, "ep", Options{})
		got, err := ReadMember(bytes.NewReader(packed), "meta.json", int64(len(b)))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("got %q, %v; want %q", got, err, b)
		}
		if _, err := ReadMember(bytes.NewReader(packed), "meta.json", int64(len(b))-1); len(b) > 0 && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("limit %d: err = %v, want ErrTooLarge", len(b)-1, err)
		}
	})
}
