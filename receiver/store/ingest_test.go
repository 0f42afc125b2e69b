package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"cis490/internal/index"
	"cis490/receiver/datadir"
)

func TestConcurrentIngestsEachReturnAfterTheirRow(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir)
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("ep-%02d", i)
			body := []byte(id)
			if _, err := s.Ingest(id, bytes.NewReader(body), int64(len(body)), sum(body), Meta{Host: "lab1"}, nil); err != nil {
				errs[i] = err
				return
			}
			// The row must already be in the index when Ingest returns.
			found := false
			index.ReadFile(filepath.Join(dir, datadir.IndexFile), func(r index.Row) { found = found || r.ID == id })
			if !found {
				errs[i] = fmt.Errorf("%s: no row when Ingest returned", id)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	rows := readRows(t, dir)
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.ID] {
			t.Errorf("duplicate row %s", r.ID)
		}
		seen[r.ID] = true
	}
	if got, want := len(seen), n; got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
}

func TestIngestBodiesAroundChunkAndWritebackSizes(t *testing.T) {
	cases := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"less than a block", directAlign - 1},
		{"a block and a byte", directAlign + 1},
		{"one chunk less a byte", chunkSize - 1},
		{"one chunk exactly", chunkSize},
		{"one byte over a chunk", chunkSize + 1},
		{"past two writeback windows", 2*writebackEvery + 3*chunkSize + 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustOpen(t, dir)
			body, sha := randomBody(tc.size)
			var last int64
			row, err := s.Ingest("ep1", bytes.NewReader(body), int64(len(body)), sha, Meta{}, func(n int64) { last = n })
			if err != nil {
				t.Fatal(err)
			}
			if row.SHA256 != sha || row.Bytes != int64(tc.size) {
				t.Errorf("row = %+v", row)
			}
			if tc.size > 0 && last != int64(tc.size) {
				t.Errorf("progress ended at %d", last)
			}
			got, n, err := hashFile(s.Path("ep1"))
			if err != nil || got != sha || n != int64(tc.size) {
				t.Errorf("stored file hashes to %s (%d bytes, %v)", got, n, err)
			}
		})
	}
}
