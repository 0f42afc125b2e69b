package census

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCountEpisodes(t *testing.T) {
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	type ep struct {
		name  string
		meta  bool
		mtime time.Time // of meta.json when meta, else of the directory
		file  bool      // a plain file, not a directory
	}
	tests := []struct {
		name string
		eps  []ep
		want Episodes
	}{
		{"empty", nil, Episodes{}},
		{"ready and writing", []ep{
			{name: "ep-b", meta: true, mtime: base.Add(2 * time.Minute)},
			{name: "ep-a", meta: true, mtime: base.Add(time.Minute)},
			{name: "ep-c", mtime: base},
			{name: "ep-d", mtime: base.Add(3 * time.Minute)},
		}, Episodes{Ready: 2, Writing: 2, OldestReady: base.Add(time.Minute), OldestWriting: base}},
		{"not episodes", []ep{
			{name: ".staging", meta: true, mtime: base},
			{name: "bad id!", meta: true, mtime: base},
			{name: "ep-file", file: true, mtime: base},
			{name: "ep-ok", meta: true, mtime: base.Add(time.Hour)},
		}, Episodes{Ready: 1, OldestReady: base.Add(time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, e := range tt.eps {
				p := filepath.Join(dir, e.name)
				if e.file {
					must(t, os.WriteFile(p, nil, 0o644))
					continue
				}
				must(t, os.Mkdir(p, 0o755))
				if e.meta {
					must(t, os.WriteFile(filepath.Join(p, "meta.json"), []byte("{}"), 0o644))
					must(t, os.Chtimes(filepath.Join(p, "meta.json"), e.mtime, e.mtime))
					// The directory's own time must not be taken for a ready episode.
					must(t, os.Chtimes(p, base.Add(-time.Hour), base.Add(-time.Hour)))
				} else {
					must(t, os.Chtimes(p, e.mtime, e.mtime))
				}
			}
			got, err := CountEpisodes(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ready != tt.want.Ready || got.Writing != tt.want.Writing ||
				!got.OldestReady.Equal(tt.want.OldestReady) || !got.OldestWriting.Equal(tt.want.OldestWriting) {
				t.Errorf("CountEpisodes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCountEpisodesMissingDir(t *testing.T) {
	got, err := CountEpisodes(filepath.Join(t.TempDir(), "none"))
	if err != nil || got != (Episodes{}) {
		t.Fatalf("CountEpisodes(missing) = %+v, %v; want empty, nil", got, err)
	}
}

func TestCountOutbox(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"ep-1.tar.zst", "ep-2.tar.zst", "ep-3.tar.zst.partial", "notes.txt"} {
		must(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	if n, err := CountOutbox(dir); err != nil || n != 2 {
		t.Fatalf("CountOutbox = %d, %v; want 2 (finished tarballs only)", n, err)
	}
	if n, err := CountOutbox(filepath.Join(dir, "none")); err != nil || n != 0 {
		t.Fatalf("CountOutbox(missing) = %d, %v; want 0, nil", n, err)
	}
}

func TestOlder(t *testing.T) {
	a := time.Unix(100, 0)
	b := time.Unix(200, 0)
	for _, tt := range []struct{ x, y, want time.Time }{
		{time.Time{}, a, a}, {a, time.Time{}, a}, {time.Time{}, time.Time{}, time.Time{}}, {a, b, a}, {b, a, a},
	} {
		if got := Older(tt.x, tt.y); !got.Equal(tt.want) {
			t.Errorf("Older(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
