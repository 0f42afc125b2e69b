package pack

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestReadMember(t *testing.T) {
	root := filepath.Join(t.TempDir(), "ep")
	mustTree(t, root, goldenNodes)
	b, _ := mustPack(t, root, "ep", Options{})
	meta := nodeData(t, goldenNodes, "meta.json")

	tests := []struct {
		name    string
		stream  []byte
		member  string
		max     int64
		want    string
		wantErr error
	}{
		{"meta.json", b, "meta.json", 1 << 20, meta, nil},
		{"nested", b, "a/b.bin", 1 << 20, nodeData(t, goldenNodes, "a/b.bin"), nil},
		{"exact limit", b, "meta.json", int64(len(meta)), meta, nil},
		{"over limit", b, "meta.json", int64(len(meta)) - 1, "", ErrTooLarge},
		{"missing", b, "nope.json", 1 << 20, "", fs.ErrNotExist},
		{"directory", b, "a/", 1 << 20, "", ErrNoMember},
		{"symlink", b, "a/c", 1 << 20, "", ErrNoMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadMember(bytes.NewReader(tt.stream), tt.member, tt.max)
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	t.Run("corrupt", func(t *testing.T) {
		bad := bytes.Clone(b)
		bad[len(bad)/2] ^= 0x55
		_, err := ReadMember(bytes.NewReader(bad), "nope.json", 1<<20)
		if err == nil || errors.Is(err, ErrNoMember) {
			t.Errorf("err = %v, want a decoding error", err)
		}
	})
	t.Run("not zstd", func(t *testing.T) {
		if _, err := ReadMember(bytes.NewReader([]byte("plain text")), "meta.json", 1<<20); err == nil {
			t.Errorf("plain text read without error")
		}
	})
}
