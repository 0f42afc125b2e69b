package pack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigNodes has one file spanning several copy buffers, so Progress is
// called while it is being read.
var bigNodes = []node{
	{path: "big.dat", data: strings.Repeat("0123456789abcdef", 3*tarChunkSize/16+7)},
	{path: "meta.json", data: "{}\n"},
}

func TestWriteDuringChanges(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, root string) // runs at the first Progress call
		wantErr error
	}{
		{"root renamed away", func(t *testing.T, root string) {
			if err := os.Rename(root, root+".moved"); err != nil {
				t.Error(err)
			}
		}, ErrVanished},
		{"root removed", func(t *testing.T, root string) {
			if err := os.RemoveAll(root); err != nil {
				t.Error(err)
			}
		}, ErrVanished},
		{"root replaced", func(t *testing.T, root string) {
			if err := os.Rename(root, root+".moved"); err != nil {
				t.Error(err)
			}
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Error(err)
			}
		}, ErrVanished},
		{"file grows", func(t *testing.T, root string) {
			f, err := os.OpenFile(filepath.Join(root, "big.dat"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("more")
			f.Close()
		}, ErrChanged},
		{"file shrinks", func(t *testing.T, root string) {
			if err := os.Truncate(filepath.Join(root, "big.dat"), tarChunkSize+1); err != nil {
				t.Error(err)
			}
		}, ErrChanged},
		{"context canceled", nil, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			root := filepath.Join(dir, "episodes", "ep")
			outbox := filepath.Join(dir, "outbox")
			for _, d := range []string{filepath.Dir(root), outbox} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			mustTree(t, root, bigNodes)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			opts := Options{Progress: func(int64) {
				calls++
				if calls > 1 {
					return
				}
				if tt.change == nil {
					cancel()
				} else {
					tt.change(t, root)
				}
			}}
			path, _, err := ToOutbox(ctx, filepath.Dir(root), outbox, "ep", opts)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if path != "" {
				t.Errorf("path = %q on error", path)
			}
			if got := mustList(t, outbox); len(got) != 0 {
				t.Errorf("outbox holds %q after error", got)
			}
		})
	}
}

func TestToOutbox(t *testing.T) {
	dir := t.TempDir()
	episodes, outbox := filepath.Join(dir, "episodes"), filepath.Join(dir, "outbox")
	for _, d := range []string{episodes, outbox} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustTree(t, filepath.Join(episodes, "ep"), goldenNodes)
	stale := filepath.Join(outbox, "ep.tar.zst.partial")
	if err := os.WriteFile(stale, []byte("stale partial from a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	want, wantRes := mustPack(t, filepath.Join(episodes, "ep"), "ep", Options{})

	for _, run := range []string{"first", "repack over existing"} {
		t.Run(run, func(t *testing.T) {
			path, res, err := ToOutbox(context.Background(), episodes, outbox, "ep", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if path != filepath.Join(outbox, "ep.tar.zst") || res != wantRes {
				t.Errorf("got %s %v, want %s %v", path, res, filepath.Join(outbox, "ep.tar.zst"), wantRes)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("outbox file differs from Write's output")
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o007 != 0 {
				t.Errorf("outbox file mode %v, %v: want no access for others", fi.Mode(), err)
			}
			if got := mustList(t, outbox); len(got) != 1 || got[0] != "ep.tar.zst" {
				t.Errorf("outbox = %q, want only ep.tar.zst", got)
			}
		})
	}
	t.Run("missing episode", func(t *testing.T) {
		_, _, err := ToOutbox(context.Background(), episodes, outbox, "gone", Options{})
		if !errors.Is(err, ErrVanished) {
			t.Errorf("err = %v, want ErrVanished", err)
		}
		if _, err := os.Stat(filepath.Join(outbox, "gone.tar.zst.partial")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("partial left behind: %v", err)
		}
	})
}

func mustList(tb testing.TB, dir string) []string {
	tb.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
