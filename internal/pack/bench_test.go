package pack

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchTree writes a ~64 MiB episode under dir: half CSV text, half float32
// arrays, a few large files and many small ones (the shape bench/pack
// generates at 1 GiB). It returns the total size of the files.
func benchTree(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
	}
	write("meta.json", []byte("{}\n"))
	for i := range 3 {
		write(fmt.Sprintf("logs/log-%d.csv", i), synthCSV(uint64(i), 8<<20))
		write(fmt.Sprintf("arrays/rec-%d.f32", i), synthFloats(uint64(i), 8<<20))
	}
	for i := range 128 {
		write(fmt.Sprintf("steps/%02d/step-%03d.csv", i/32, i), synthCSV(uint64(100+i), 64<<10))
		write(fmt.Sprintf("chunks/%02d/chunk-%03d.f32", i/32, i), synthFloats(uint64(100+i), 64<<10))
	}
	return total
}

// BenchmarkWrite packs a ~64 MiB tree from the page cache to io.Discard;
// the MB/s figure is of tree bytes read.
func BenchmarkWrite(b *testing.B) {
	root := filepath.Join(b.TempDir(), "ep")
	size := benchTree(b, root)
	for _, level := range []int{1, 3} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.SetBytes(size)
			var res Result
			for b.Loop() {
				var err error
				res, err = Write(context.Background(), io.Discard, root, "ep", Options{Level: level})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(res.Bytes)/float64(size), "ratio")
		})
	}
}
