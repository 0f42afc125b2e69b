package replicalog

import (
	"os"
	"strings"
	"testing"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestAppendThenReadSkipsTornAndBadLines(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Row{ID: "ep-1", SHA256: sha, At: "2026-11-22T14:03:04.123Z"}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	f, _ := os.OpenFile(Path(dir), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{\"id\":\"../x\",\"sha256\":\"" + sha + "\"}\n{\"id\":\"ep-2\",\"sha")
	f.Close()
	m, err := Set(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || m["ep-1"] != sha {
		t.Errorf("set = %v", m)
	}
	l, err = Open(dir) // cuts the torn line
	if err != nil {
		t.Fatal(err)
	}
	l.Append(Row{ID: "ep-2", SHA256: strings.ToUpper(sha), At: "x"})
	l.Close()
	m, _ = Set(dir)
	if m["ep-2"] != sha {
		t.Errorf("ep-2 after repair = %q (set %v)", m["ep-2"], m)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":"ep-1","sha256":"` + sha + `","at":"2026-11-22T14:03:04.123Z"}`))
	f.Add([]byte(`{"id":""}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		again, err := Parse([]byte(`{"id":"` + r.ID + `","sha256":"` + r.SHA256 + `"}`))
		if err != nil || again.ID != r.ID || again.SHA256 != r.SHA256 {
			t.Fatalf("round trip of %+v: %+v %v", r, again, err)
		}
	})
}
