package index

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		name, line string
		ok         bool
	}{
		{"full row", `{"id":"ep-1","host":"lab1","sha256":"` + sha + `","bytes":5,"received_at":"2026-11-22T14:03:04.123Z","commit":"` + strings.Repeat("c", 40) + `","schema_version":"3","source":"receiver"}`, true},
		{"unknown fields ignored", `{"id":"ep-1","sha256":"` + sha + `","future":{"x":1}}`, true},
		{"upper-case sha", `{"id":"ep-1","sha256":"` + strings.ToUpper(sha) + `"}`, true},
		{"bad id", `{"id":"../x","sha256":"` + sha + `"}`, false},
		{"bad sha", `{"id":"ep-1","sha256":"abc"}`, false},
		{"not json", `{"id":`, false},
		{"wrong type", `{"id":"ep-1","sha256":"` + sha + `","bytes":"5"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.line))
			if (err == nil) != tc.ok {
				t.Fatalf("Parse = %+v, %v; want ok=%v", r, err, tc.ok)
			}
			if tc.ok && r.SHA256 != sha {
				t.Errorf("sha not normalised: %s", r.SHA256)
			}
		})
	}
}

func TestReadFileSkipsTornAndReportsBadLines(t *testing.T) {
	sha := strings.Repeat("0", 64)
	content := `{"id":"a","sha256":"` + sha + `"}` + "\nnot json\n" + `{"id":"b","sha256":"` + sha + `"}` + "\n" + `{"id":"c","sha`
	path := filepath.Join(t.TempDir(), "rows.jsonl")
	os.WriteFile(path, []byte(content), 0o600)
	var ids []string
	problems, torn, err := ReadFile(path, func(r Row) { ids = append(ids, r.ID) })
	if err != nil || !torn || len(problems) != 1 || problems[0].Line != 2 || strings.Join(ids, ",") != "a,b" {
		t.Errorf("ids %v problems %+v torn %v err %v", ids, problems, torn, err)
	}
}

func TestOmittedFields(t *testing.T) {
	b, _ := json.Marshal(Row{ID: "x", Host: "h", SHA256: "s", Source: SourceReceiver})
	if strings.Contains(string(b), "commit") || strings.Contains(string(b), "schema_version") {
		t.Errorf("absent commit/schema_version must be omitted: %s", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"id":"ep-1","host":"lab1","sha256":"` + strings.Repeat("ab", 32) + `","bytes":5,"source":"receiver"}`)
	f.Add(`{"id":""}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := Parse([]byte(line))
		if err != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(b)
		if err != nil || r2 != r {
			t.Errorf("round trip: %+v -> %s -> %+v, %v", r, b, r2, err)
		}
	})
}
