package store

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestSpareWriteNewWritesEveryByte(t *testing.T) {
	dir := t.TempDir()
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	if !isAligned(*bp) {
		t.Fatal("pool buffers are not aligned for direct I/O")
	}
	src, _ := randomBody(chunkSize)
	copy(*bp, src)
	cases := []struct {
		name string
		b    []byte
	}{
		{"one byte", (*bp)[:1]},
		{"one block less a byte", (*bp)[:directAlign-1]},
		{"one block", (*bp)[:directAlign]},
		{"one block and a byte", (*bp)[:directAlign+1]},
		{"a chunk", (*bp)[:chunkSize]},
		{"a chunk less a byte", (*bp)[:chunkSize-1]},
		{"misaligned in memory", (*bp)[1 : 2*directAlign+1]},
	}
	for _, refused := range []bool{false, true} {
		for i, tc := range cases {
			name := tc.name
			if refused {
				name += ", direct I/O refused"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(dir, fmt.Sprintf("%v-%d", refused, i))
				f, direct, err := openSpareFile(path)
				if err != nil {
					t.Fatal(err)
				}
				sp := &spare{File: f, path: path, direct: direct}
				if refused {
					// As on a file system without direct I/O: the flag
					// never took.
					if err := sp.buffered(); err != nil {
						t.Fatal(err)
					}
				}
				if err := sp.writeNew(tc.b); err != nil {
					t.Fatal(err)
				}
				if err := sp.Close(); err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tc.b) {
					t.Errorf("file holds %d bytes, not the %d written", len(got), len(tc.b))
				}
			})
		}
	}
}
