package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

var update = flag.Bool("update", false, "print the golden digest instead of checking it")

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// longName is one path component too long for a USTAR name field, so its
// entry needs a PAX path record.
var longName = strings.Repeat("L", 150)

// goldenNodes is the fixture of TestGolden and of most other tests. Its names
// make depth-first order differ from a plain sort of full paths: "a/" sorts
// after "a-b" and "a.txt" by path but before them by name.
var goldenNodes = []node{
	{path: "a", dir: true, mode: 0o750},
	{path: "a/b.bin", data: strings.Repeat("\x00\x01\x02\x03binary", 30000), mode: 0o600},
	{path: "a/c", link: "../a.txt"},
	{path: "a-b", data: "dash\n", mode: 0o644, mtime: 1_000_000_000},
	{path: "a.txt", data: "hello\n", mode: 0o664},
	{path: "caf\xe9.txt", data: "a Latin-1 name, not UTF-8\n"},
	{path: "empty", data: "", mode: 0o444},
	{path: "link-dangling", link: "nowhere/at/all"},
	{path: "link-dir", link: "a"},
	{path: "meta.json", data: `{"code_version":{"commit":"0123456789abcdef0123456789abcdef01234567"}}` + "\n"},
	{path: "old", data: "before 1970\n", mtime: -1},
	{path: "run.sh", data: "#!/bin/sh\n", mode: 0o755 | os.ModeSetuid | os.ModeSetgid},
	{path: "shared", dir: true, mode: 0o777 | os.ModeSticky},
	{path: "shared/" + longName, data: "long\n"},
	{path: "shared/" + strings.Repeat("d", 90), dir: true},
	{path: "shared/" + strings.Repeat("d", 90) + "/deep.csv", data: "x,y\n1,2\n"},
}

// seriesNodes adds 4 MiB of text and float data to the golden fixture, enough
// for many zstd blocks and every kind of block the encoder makes.
var seriesNodes = []node{
	{path: "z-series", dir: true},
	{path: "z-series/log.csv", data: string(synthCSV(1, 1<<20))},
	{path: "z-series/obs.f32", data: string(synthFloats(2, 3<<20))},
}

// xorshift is a tiny generator whose sequence is fixed by its definition, so
// synthetic fixture data is the same on every machine and Go release.
type xorshift uint64

func (x *xorshift) next() uint64 {
	*x ^= *x << 13
	*x ^= *x >> 7
	*x ^= *x << 17
	return uint64(*x)
}

// synthCSV returns n bytes of CSV rows that compress like instrument logs.
func synthCSV(seed uint64, n int) []byte {
	r := xorshift(seed*0x9e3779b97f4a7c15 + 1)
	var b []byte
	for t := 0; len(b) < n; t++ {
		v := r.next()
		b = fmt.Appendf(b, "%d,sensor_%02d,%d.%03d,%s\n", 1_700_000_000_000+t*10, v%16, int(v>>8%2000)-1000, v>>20%1000, [...]string{"ok", "ok", "ok", "warn"}[v>>40%4])
	}
	return b[:n]
}

// synthFloats returns n bytes of little-endian float32 samples of a noisy
// slow signal, the shape of recorded sensor arrays.
func synthFloats(seed uint64, n int) []byte {
	r := xorshift(seed*0x9e3779b97f4a7c15 + 1)
	b := make([]byte, 0, n)
	level := float32(0)
	for len(b)+4 <= n {
		level += float32(int64(r.next()%2001)-1000) / 1e4
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(level))
	}
	return append(b, make([]byte, n-len(b))...)
}

// goldenSHA256 is the digest of goldenNodes and seriesNodes packed as "ep-golden" at the
// default level, the same on every machine and architecture. Regenerate with
// go test -run TestGolden -update ./internal/pack/ after a deliberate change
// of the tarball format (it breaks idempotent re-uploads of repacked
// episodes).
const goldenSHA256 = "dea5b7595df028071b149d31556fe065e3b3e1b8c61f8462a13b85ca22e9e5ad"

func TestGolden(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep-golden")
	mustTree(t, root, append(slices.Clone(goldenNodes), seriesNodes...))
	_, res := mustPack(t, root, "ep-golden", Options{})
	if *update {
		t.Logf("goldenSHA256 = %q (%d bytes)", res.SHA256, res.Bytes)
		return
	}
	if res.SHA256 != goldenSHA256 {
		t.Errorf("sha256 = %s, want %s (%d bytes)", res.SHA256, goldenSHA256, res.Bytes)
	}
}

func TestWriteDeterministic(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	first, res1 := mustPack(t, root, "ep", Options{})

	t.Run("twice", func(t *testing.T) {
		second, res2 := mustPack(t, root, "ep", Options{})
		if res1 != res2 || !bytes.Equal(first, second) {
			t.Errorf("second pack differs: %v vs %v", res1, res2)
		}
	})
	t.Run("after atime and sub-second mtime change", func(t *testing.T) {
		p := filepath.Join(root, "a.txt")
		if err := os.Chtimes(p, time.Unix(2_000_000_000, 0), time.Unix(fixtureTime, 999_999_999)); err != nil {
			t.Fatal(err)
		}
		_, res2 := mustPack(t, root, "ep", Options{})
		if res1 != res2 {
			t.Errorf("pack changed: %v vs %v", res1, res2)
		}
	})
	t.Run("mtime change shows", func(t *testing.T) {
		p := filepath.Join(root, "a.txt")
		if err := os.Chtimes(p, time.Time{}, time.Unix(fixtureTime+1, 0)); err != nil {
			t.Fatal(err)
		}
		_, res2 := mustPack(t, root, "ep", Options{})
		if res1 == res2 {
			t.Errorf("mtime change did not change the pack")
		}
	})
}

func TestWriteLevels(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	_, def := mustPack(t, root, "ep", Options{})
	_, three := mustPack(t, root, "ep", Options{Level: 3})
	_, one := mustPack(t, root, "ep", Options{Level: 1})
	if def != three {
		t.Errorf("level 0 = %v, level 3 = %v: want the default to be 3", def, three)
	}
	if one == three {
		t.Errorf("level 1 and level 3 packed identically")
	}
}

func TestWriteHeaders(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	b, _ := mustPack(t, root, "ep", Options{})
	es := mustUnpack(t, b)

	wantOrder := []string{
		"ep/", "ep/a/", "ep/a/b.bin", "ep/a/c", "ep/a-b", "ep/a.txt", "ep/caf\xe9.txt", "ep/empty",
		"ep/link-dangling", "ep/link-dir", "ep/meta.json", "ep/old", "ep/run.sh",
		"ep/shared/", "ep/shared/" + longName, "ep/shared/" + strings.Repeat("d", 90) + "/",
		"ep/shared/" + strings.Repeat("d", 90) + "/deep.csv",
	}
	if got := names(es); !slices.Equal(got, wantOrder) {
		t.Fatalf("order:\n got %q\nwant %q", got, wantOrder)
	}
	byName := map[string]*tar.Header{}
	for _, e := range es {
		h := e.hdr
		byName[h.Name] = h
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 with no names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime %v ctime %v recorded", h.Name, h.AccessTime, h.ChangeTime)
		}
		if h.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: mtime %v has sub-seconds", h.Name, h.ModTime)
		}
		if h.Format == tar.FormatGNU {
			t.Errorf("%s: GNU format", h.Name)
		}
		if len(h.PAXRecords) > 0 && h.Name != "ep/shared/"+longName && h.Name != "ep/old" && h.Name != "ep/caf\xe9.txt" {
			t.Errorf("%s: unexpected PAX records %v", h.Name, h.PAXRecords)
		}
	}
	tests := []struct {
		name     string
		typ      byte
		mode     int64
		mtime    int64
		size     int64
		linkname string
	}{
		{"ep/", tar.TypeDir, 0o755, fixtureTime, 0, ""},
		{"ep/a/", tar.TypeDir, 0o750, fixtureTime, 0, ""},
		{"ep/a/b.bin", tar.TypeReg, 0o600, fixtureTime, 300000, ""},
		{"ep/a/c", tar.TypeSymlink, 0o777, fixtureTime, 0, "../a.txt"},
		{"ep/a-b", tar.TypeReg, 0o644, 1_000_000_000, 5, ""},
		{"ep/empty", tar.TypeReg, 0o444, fixtureTime, 0, ""},
		{"ep/link-dangling", tar.TypeSymlink, 0o777, fixtureTime, 0, "nowhere/at/all"},
		{"ep/link-dir", tar.TypeSymlink, 0o777, fixtureTime, 0, "a"},
		{"ep/old", tar.TypeReg, 0o644, -1, 12, ""},
		{"ep/run.sh", tar.TypeReg, 0o6755, fixtureTime, 10, ""},
		{"ep/shared/", tar.TypeDir, 0o1777, fixtureTime, 0, ""},
		{"ep/shared/" + longName, tar.TypeReg, 0o644, fixtureTime, 5, ""},
	}
	for _, tt := range tests {
		name := strings.TrimPrefix(tt.name, "ep/")
		if name == "" {
			name = "root"
		}
		t.Run(name, func(t *testing.T) {
			h := byName[tt.name]
			if h == nil {
				t.Fatalf("missing")
			}
			if h.Typeflag != tt.typ || h.Mode != tt.mode || h.ModTime.Unix() != tt.mtime ||
				h.Size != tt.size || h.Linkname != tt.linkname {
				t.Errorf("got type %q mode %o mtime %d size %d link %q, want %q %o %d %d %q",
					h.Typeflag, h.Mode, h.ModTime.Unix(), h.Size, h.Linkname,
					tt.typ, tt.mode, tt.mtime, tt.size, tt.linkname)
			}
		})
	}
	t.Run("contents", func(t *testing.T) {
		for _, e := range es {
			if e.hdr.Name == "ep/a/b.bin" && string(e.data) != nodeData(t, goldenNodes, "a/b.bin") {
				t.Errorf("b.bin contents differ (%d bytes)", len(e.data))
			}
		}
	})
}

func TestWriteSkipsSpecialFiles(t *testing.T) {
	tests := []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o644) }},
		{"socket", func(p string) error { return syscall.Mknod(p, syscall.S_IFSOCK|0o644, 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "ep")
			mustTree(t, root, []node{{path: "keep", data: "x"}})
			if err := tt.make(filepath.Join(root, "special")); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			b, _ := mustPack(t, root, "ep", Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if got, want := names(mustUnpack(t, b)), []string{"ep/", "ep/keep"}; !slices.Equal(got, want) {
				t.Errorf("entries %q, want %q", got, want)
			}
			if log := logs.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "path=ep/special") {
				t.Errorf("no warning naming the skipped file in %q", log)
			}
		})
	}
}

func TestZstdFrame(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	b, _ := mustPack(t, root, "ep", Options{})

	var h zstd.Header
	if err := h.Decode(b); err != nil {
		t.Fatal(err)
	}
	if !h.HasCheckSum || h.HasFCS || h.DictionaryID != 0 || h.Skippable {
		t.Errorf("frame header %+v: want checksum, no content size, no dictionary", h)
	}
	if h.WindowSize > WindowSize {
		t.Errorf("window %d > %d", h.WindowSize, WindowSize)
	}
	t.Run("single frame", func(t *testing.T) {
		if got, want := frameLen(t, b, h.HeaderSize), len(b); got != want {
			t.Errorf("first frame is %d bytes of %d", got, want)
		}
	})
	t.Run("checksum verified", func(t *testing.T) {
		bad := slices.Clone(b)
		bad[len(bad)-1] ^= 0xff // last byte of the content checksum
		dec, _ := zstd.NewReader(nil)
		defer dec.Close()
		_, err := dec.DecodeAll(bad, nil)
		if err == nil {
			t.Errorf("corrupted checksum accepted")
		}
	})
}

// frameLen walks the blocks of the zstd frame whose header is hdrLen bytes
// (RFC 8878 §3.1.1.2) and returns the frame's length including its 4-byte
// content checksum.
func frameLen(tb testing.TB, b []byte, hdrLen int) int {
	tb.Helper()
	off := hdrLen
	for {
		if off+3 > len(b) {
			tb.Fatalf("block header at %d past the end", off)
		}
		bh := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16
		last, typ, size := bh&1 == 1, bh>>1&3, bh>>3
		off += 3
		if typ == 1 { // RLE: one byte repeated size times
			size = 1
		}
		off += size
		if last {
			return off + 4
		}
	}
}

func TestWriteRejects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		root, id string
		vanished bool
	}{
		{"bad id", dir, "../x", false},
		{"root is a file", file, "file", false},
		{"root missing", filepath.Join(dir, "gone"), "gone", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(context.Background(), &bytes.Buffer{}, tt.root, tt.id, Options{})
			if err == nil || errors.Is(err, ErrVanished) != tt.vanished {
				t.Errorf("err = %v, want vanished=%v", err, tt.vanished)
			}
		})
	}
}

// failWriter accepts limit bytes and then fails.
type failWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(b []byte) (int, error) {
	if len(b) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errDiskFull
	}
	w.limit -= len(b)
	return len(b), nil
}

func TestWriteOutputError(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, append(slices.Clone(goldenNodes), seriesNodes...))
	for _, limit := range []int{0, 1000, outChunkSize + 1} {
		t.Run(fmt.Sprintf("fails after %d bytes", limit), func(t *testing.T) {
			_, err := Write(context.Background(), &failWriter{limit: limit}, root, "ep", Options{})
			if !errors.Is(err, errDiskFull) {
				t.Errorf("err = %v, want %v", err, errDiskFull)
			}
		})
	}
}

// TestTarStreamMatchesArchiveTar checks that writing headers with throwaway
// tar.Writers and contents directly yields exactly the stream one tar.Writer
// would: same blocks, padding and end-of-archive marker.
func TestTarStreamMatchesArchiveTar(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	b, _ := mustPack(t, root, "ep", Options{})
	dec, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}

	var want bytes.Buffer
	tw := tar.NewWriter(&want)
	for _, e := range mustUnpack(t, b) {
		p := filepath.Join(root, strings.TrimPrefix(strings.TrimSuffix(e.hdr.Name, "/"), "ep"))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h := header(e.hdr.Typeflag, e.hdr.Name, fi)
		var data []byte
		switch e.hdr.Typeflag {
		case tar.TypeSymlink:
			h.Linkname, err = os.Readlink(p)
		case tar.TypeReg:
			data, err = os.ReadFile(p)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("tar stream (%d bytes) differs from archive/tar's (%d bytes)", len(got), want.Len())
	}
}
