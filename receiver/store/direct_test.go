package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteNewWritesEveryByte(t *testing.T) {
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
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i)))
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeNew(f, tc.b); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
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
