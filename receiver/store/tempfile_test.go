package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"cis490/receiver/datadir"
)

func TestIngestWithNamedAndUnnamedTempFiles(t *testing.T) {
	cases := []struct {
		name    string
		unnamed bool
	}{
		{"unnamed temp file", true},
		{"named temp file", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := mustOpen(t, dir)
			if tc.unnamed && !s.unnamedTmp {
				if runtime.GOOS == "linux" {
					t.Skip("O_TMPFILE or /proc/self/fd unavailable here")
				}
				t.Skip("unnamed temp files are linux only")
			}
			s.unnamedTmp = tc.unnamed
			body, sha := randomBody(3*chunkSize + 5)
			if _, err := s.Ingest("ep1", bytes.NewReader(body), int64(len(body)), sha, Meta{}, nil); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(s.Path("ep1")); !bytes.Equal(got, body) {
				t.Error("stored bytes differ")
			}
			if _, err := s.Ingest("ep1", bytes.NewReader(body), int64(len(body)), sha, Meta{}, nil); !errors.Is(err, ErrExists) {
				t.Errorf("second ingest = %v, want ErrExists", err)
			}
			if _, err := s.Ingest("ep2", bytes.NewReader(body[:10]), int64(len(body)), sha, Meta{}, nil); !errors.Is(err, ErrAborted) {
				t.Errorf("short ingest = %v, want ErrAborted", err)
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, datadir.TmpDir)); len(ents) != 0 {
				t.Errorf("tmp/ holds %d entries", len(ents))
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, datadir.StoreDir)); len(ents) != 1 {
				t.Errorf("store/ holds %d entries, want 1", len(ents))
			}
			if got := len(readRows(t, dir)); got != 1 {
				t.Errorf("rows = %d, want 1", got)
			}
		})
	}
}
