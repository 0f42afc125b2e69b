package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"
)

// node is one entry of a fixture tree: a regular file (data), a directory
// (dir) or a symlink (link).
type node struct {
	path  string // slash-separated, relative to the root
	dir   bool
	link  string // symlink target when non-empty
	data  string
	mode  os.FileMode // permission bits plus os.ModeSetuid etc.
	mtime int64       // unix seconds; 0 leaves the mtime alone
}

// fixtureTime is the mtime given to fixture entries that do not name one.
const fixtureTime = 1_763_900_000 // 2025-11-23T12:13:20Z

// mustTree creates root (mode 0755, fixtureTime) with the given nodes,
// parents before children, and then stamps every mtime so that creating
// entries does not disturb the directories' times.
func mustTree(tb testing.TB, root string, nodes []node) {
	tb.Helper()
	if err := os.Mkdir(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		var err error
		switch {
		case n.dir:
			err = os.Mkdir(p, 0o700)
		case n.link != "":
			err = os.Symlink(n.link, p)
		default:
			err = os.WriteFile(p, []byte(n.data), 0o600)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if n.link == "" {
			mode := n.mode
			if mode == 0 {
				mode = 0o644
				if n.dir {
					mode = 0o755
				}
			}
			if err := os.Chmod(p, mode); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		t := n.mtime
		if t == 0 {
			t = fixtureTime
		}
		mustLchtime(tb, filepath.Join(root, filepath.FromSlash(n.path)), time.Unix(t, 0))
	}
	mustLchtime(tb, root, time.Unix(fixtureTime, 0))
}

// mustLchtime sets the atime and mtime of path without following a symlink
// (utimensat with AT_SYMLINK_NOFOLLOW, which package os does not expose).
func mustLchtime(tb testing.TB, path string, t time.Time) {
	tb.Helper()
	const atFDCWD, atSymlinkNoFollow = -100, 0x100
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		tb.Fatal(err)
	}
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&ts[0])), atSymlinkNoFollow, 0, 0)
	if errno != 0 {
		tb.Fatalf("utimensat %s: %v", path, errno)
	}
}

// mustPack packs root as id into memory and checks that Result describes
// the bytes written.
func mustPack(tb testing.TB, root, id string, opts Options) ([]byte, Result) {
	tb.Helper()
	var buf bytes.Buffer
	res, err := Write(context.Background(), &buf, root, id, opts)
	if err != nil {
		tb.Fatalf("Write: %v", err)
	}
	if res.Bytes != int64(buf.Len()) {
		tb.Fatalf("Result.Bytes = %d, wrote %d", res.Bytes, buf.Len())
	}
	if got, want := res.SHA256, sha256Hex(buf.Bytes()); got != want {
		tb.Fatalf("Result.SHA256 = %s, sha256 of output = %s", got, want)
	}
	return buf.Bytes(), res
}

// entry is one tar member as read back.
type entry struct {
	hdr  *tar.Header
	data []byte
}

// mustUnpack decodes a .tar.zst into its entries, in order.
func mustUnpack(tb testing.TB, b []byte) []entry {
	tb.Helper()
	dec, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		tb.Fatal(err)
	}
	defer dec.Close()
	tr := tar.NewReader(dec)
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("tar %s: %v", h.Name, err)
		}
		out = append(out, entry{h, data})
	}
}

// names lists the entries' names in order.
func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.hdr.Name)
	}
	return out
}

// nodeData returns the contents of the fixture file at path.
func nodeData(tb testing.TB, nodes []node, path string) string {
	tb.Helper()
	for _, n := range nodes {
		if n.path == path {
			return n.data
		}
	}
	tb.Fatalf("no fixture node %q", path)
	return ""
}
