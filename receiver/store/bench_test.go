package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"cis490/receiver/datadir"
)

// randomBody returns n deterministic random bytes and their sha256.
func randomBody(n int) ([]byte, string) {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b, sum(b)
}

// BenchmarkIngest64MiB stores one 64 MiB body per iteration: hash, write,
// fsync, link, directory fsync and index append, as a PUT does.
func BenchmarkIngest64MiB(b *testing.B) {
	body, sha := randomBody(64 << 20)
	s, _, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Ingest(fmt.Sprintf("ep-%d", i), bytes.NewReader(body), int64(len(body)), sha, Meta{Host: "lab1"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestSmallParallel stores 256 KiB bodies from about 8
// goroutines, as eight hosts uploading at once would; the directory and
// index fsyncs are shared between them.
func BenchmarkIngestSmallParallel(b *testing.B) {
	body, sha := randomBody(256 << 10)
	s, _, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	b.SetBytes(int64(len(body)))
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("ep-%d", next.Add(1))
			if _, err := s.Ingest(id, bytes.NewReader(body), int64(len(body)), sha, Meta{Host: "lab1"}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkLookup answers HEAD and duplicate checks against an index of
// 1 000 000 rows, for the oldest, a middle and the newest id (docs/
// BENCHMARKS.md, "Lookup"). Only the probed ids have store files: Lookup
// reads the id's row and stats its file, nothing else.
func BenchmarkLookup(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	if err := os.MkdirAll(datadir.New(dir).Store(), 0o750); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(datadir.New(dir).Index())
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	sha := sum([]byte("x"))
	for i := range rows {
		fmt.Fprintf(w, `{"id":"ep-%07d","host":"lab%d","sha256":"%s","bytes":%d,"received_at":"2026-11-22T14:03:04.123Z","commit":"0123456789abcdef0123456789abcdef01234567","source":"receiver"}`+"\n", i, i%50, sha, 1000+i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	probes := map[string]string{"oldest": "ep-0000000", "middle": "ep-0500000", "newest": fmt.Sprintf("ep-%07d", rows-1)}
	for _, id := range probes {
		os.WriteFile(datadir.New(dir).Stored(id), []byte("x"), 0o640)
	}
	s, _, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, name := range []string{"oldest", "middle", "newest"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, found, err := s.Lookup(probes[name]); !found || err != nil {
					b.Fatalf("Lookup(%s) = %v %v", probes[name], found, err)
				}
			}
		})
	}
}
