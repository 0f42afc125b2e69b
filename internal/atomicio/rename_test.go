package atomicio

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	os.Mkdir(src, 0o755)
	os.Mkdir(dst, 0o755) // empty: plain rename(2) would replace it
	if err := RenameNoReplace(src, dst); !os.IsExist(err) {
		t.Fatalf("err = %v, want EEXIST", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("source gone: %v", err)
	}
	free := filepath.Join(dir, "free")
	if err := RenameNoReplace(src, free); err != nil {
		t.Fatalf("rename to a free name: %v", err)
	}
	if _, err := os.Stat(free); err != nil {
		t.Errorf("target missing: %v", err)
	}
}
