package atomicio

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFileReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	if err := WriteFile(p, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(got) != "new contents" || st.Mode().Perm() != 0o600 {
		t.Errorf("file %q mode %v", got, st.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %d entries", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), []byte("x"), 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestLinkNoReplaceNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst")
	tmp1, tmp2 := filepath.Join(dir, "t1"), filepath.Join(dir, "t2")
	os.WriteFile(tmp1, []byte("first"), 0o600)
	os.WriteFile(tmp2, []byte("second"), 0o600)
	if err := LinkNoReplace(tmp1, dst); err != nil {
		t.Fatal(err)
	}
	if err := LinkNoReplace(tmp2, dst); !errors.Is(err, ErrExist) {
		t.Errorf("second link = %v, want ErrExist", err)
	}
	got, _ := os.ReadFile(dst)
	if string(got) != "first" {
		t.Errorf("dst = %q, want the first file", got)
	}
	for _, p := range []string{tmp1, tmp2} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s not removed", p)
		}
	}
}

func TestGroupSyncerConcurrentCallers(t *testing.T) {
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	g := NewGroupSyncer(d)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Sync(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if g.synced != g.tickets {
		t.Errorf("synced through %d of %d tickets", g.synced, g.tickets)
	}
	d.Close()
	if err := g.Sync(); err == nil {
		t.Error("sync of a closed file reported success")
	}
}
