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

func TestStickyGroupSyncerFailsForGood(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close() // fsync of a closed file fails
	g, plain := NewStickyGroupSyncer(f), NewGroupSyncer(f)
	if g.Sync() == nil || plain.Sync() == nil {
		t.Fatal("sync of a closed file reported success")
	}
	// A working file behind the same syncers: the plain one recovers, the
	// sticky one keeps failing, since the lost writes never reached the disk.
	good, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	g.f, plain.f = good, good
	if err := plain.Sync(); err != nil {
		t.Errorf("plain syncer after a good fsync: %v", err)
	}
	if err := g.Sync(); err == nil {
		t.Error("sticky syncer succeeded after a failed fsync")
	}
}

func TestPendingCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	final, tmp := filepath.Join(dir, "out.tar.zst"), filepath.Join(dir, "out.tar.zst.partial")
	os.WriteFile(tmp, []byte("stale partial"), 0o666)
	p, err := Create(final, tmp, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(final); !os.IsNotExist(err) {
		t.Fatalf("final name exists before commit: %v", err)
	}
	p.WriteString("whole")
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(final)
	st, _ := os.Stat(final)
	if string(got) != "whole" || st.Mode().Perm() != 0o640 {
		t.Errorf("final %q mode %v; want the new bytes with mode 0640, not the stale partial's", got, st.Mode().Perm())
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Error("temporary name left behind")
	}
	q, err := Create(filepath.Join(dir, "other"), filepath.Join(dir, "other.partial"), 0o640)
	if err != nil {
		t.Fatal(err)
	}
	q.WriteString("half")
	q.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("abort left %d entries, want only the committed file", len(ents))
	}
	r, _ := Create(final, tmp, 0o640)
	if err := r.CommitNew(); !errors.Is(err, ErrExist) {
		t.Errorf("CommitNew over an existing file = %v, want ErrExist", err)
	}
}

func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lock")
	unlock, err := TryLock(path, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description, so a second open in
	// this process contends like another process would.
	if _, err := TryLock(path, 0o640); !errors.Is(err, ErrLocked) {
		t.Errorf("second TryLock = %v, want ErrLocked", err)
	}
	unlock()
	unlockDir, err := TryLock(dir, 0)
	if err != nil {
		t.Fatalf("lock of a directory: %v", err)
	}
	unlockDir()
	again, err := Lock(path, 0o640)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
}
