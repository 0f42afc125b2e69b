package jsonl

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzScanAgree checks the three readers of one file agree on arbitrary
// content: ScanBackward yields Scan's lines in reverse, and after RepairTorn
// the file holds exactly those lines, each with its newline. The content is
// b repeated reps times, so lines straddle ScanBackward's 64 KiB blocks.
func FuzzScanAgree(f *testing.F) {
	f.Add([]byte("{\"id\":\"a\"}\n{\"id\":\"b\"}\n"), uint32(1))
	f.Add([]byte("a\nbb\nccc"), uint32(1))
	f.Add([]byte("\n"), uint32(70000))
	f.Add([]byte("0123456789abcde\n"), uint32(4097)) // 16 B lines, 65552 B: one line across the block edge
	f.Add([]byte("x"), uint32(65537))                // one torn line longer than a block
	f.Add([]byte("yyyy\n\x00\xff"), uint32(9000))
	f.Fuzz(func(t *testing.T, b []byte, reps uint32) {
		n := int(reps)
		if n == 0 || len(b)*n > 300<<10 {
			n = 1
		}
		content := bytes.Repeat(b, n)
		path := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var fwd [][]byte
		torn, err := ScanFile(path, func(l []byte) error { fwd = append(fwd, append([]byte(nil), l...)); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if want := len(content) > 0 && content[len(content)-1] != '\n'; torn != want {
			t.Errorf("torn = %v, want %v", torn, want)
		}
		var back [][]byte
		if err := ScanBackward(path, func(l []byte) error { back = append(back, append([]byte(nil), l...)); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(back) != len(fwd) {
			t.Fatalf("backward read %d lines, forward %d", len(back), len(fwd))
		}
		var whole []byte
		for i, l := range fwd {
			if !bytes.Equal(back[len(back)-1-i], l) {
				t.Fatalf("line %d: backward %.80q, forward %.80q", i, back[len(back)-1-i], l)
			}
			whole = append(append(whole, l...), '\n')
		}
		cut, err := RepairTorn(path)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if !bytes.Equal(got, whole) || cut != int64(len(content)-len(whole)) {
			t.Errorf("after RepairTorn (cut %d) the file is %d bytes, want the %d bytes of its whole lines", cut, len(got), len(whole))
		}
	})
}
