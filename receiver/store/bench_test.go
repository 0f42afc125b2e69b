package store

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
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
