package toml

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// mustAccept lists toml-test valid cases that use only subset syntax, each
// checked by reading the file: a parser that rejects them has regressed.
var mustAccept = []string{
	"valid/bool/bool.toml",                   // t = true, f = false
	"valid/array/trailing-comma.toml",        // integer arrays, trailing commas, spanning lines
	"valid/array/string-quote-comma-01.toml", // escaped quotes and commas inside array strings
	"valid/integer/integer.toml",             // signed decimal integers and zero
	"valid/integer/underscore.toml",          // 1_000, 1_1_1_1
	"valid/integer/long.toml",                // int64 max and min
	"valid/string/escapes.toml",              // every short escape, \u007F, escaped backslashes
	"valid/string/quoted-unicode.toml",       // \u and \U escapes incl. \u0000 and \U0010ffff
	"valid/string/raw.toml",                  // literal strings keep backslashes, raw tab
	"valid/table/sub-empty.toml",             // [a] then [a.b]
	"valid/table/without-super.toml",         // [x.y.z.w] then [x], with comments
	"valid/implicit-and-explicit-after.toml", // [a.b.c] then [a] with keys
	"valid/newline-crlf.toml",                // CRLF line endings
	"valid/utf8-bom-01.toml",                 // leading BOM then a comment
	"valid/key/alphanum.toml",                // digit-only, dashed and '_' bare keys, [2018_10]
	"valid/comment/noeol.toml",               // a comment with no final newline
	"valid/comment/nonascii.toml",            // non-ASCII characters in a comment
	"valid/empty-nothing.toml",               // an empty file
	"valid/spec-1.0.0/table-0.toml",          // [table]
}

// testDataDir finds ../shared/toml-test relative to the module root, the
// directory holding go.mod above the test's working directory.
func testDataDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "toml-test"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func conformanceDir(t *testing.T) string {
	t.Helper()
	dir, err := testDataDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("toml-test data not present at %s: %v", dir, err)
	}
	return dir
}

// errPanic marks a parser panic turned into an error by safeParse.
var errPanic = errors.New("parser panicked")

// safeParse turns a panic into an error so one bad case cannot end the run.
func safeParse(data []byte) (t *Table, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return Parse(data)
}

// minAccepted is how many valid cases the parser accepted when the count
// was last reviewed; fewer means the subset shrank by accident.
const minAccepted = 71

func tomlFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".toml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// normaliseJSON makes toml-test's expectations comparable with tagged():
// integer values are compared as int64, so "+0" and "0" agree.
func normaliseJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if typ, ok := v["type"].(string); ok && len(v) == 2 {
			if s, ok := v["value"].(string); ok && typ == "integer" {
				if n, err := strconv.ParseInt(s, 10, 64); err == nil {
					return map[string]any{"type": typ, "value": strconv.FormatInt(n, 10)}
				}
			}
			return v
		}
		for k, e := range v {
			v[k] = normaliseJSON(e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = normaliseJSON(e)
		}
		return v
	}
	return v
}

func TestConformanceValid(t *testing.T) {
	dir := conformanceDir(t)
	accepted := make(map[string]bool)
	files := tomlFiles(t, filepath.Join(dir, "valid"))
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		t.Run(rel, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tree, perr := safeParse(data)
			if errors.Is(perr, errPanic) {
				t.Fatal(perr)
			}
			if perr != nil {
				return // outside the subset: an error is a correct answer
			}
			accepted[rel] = true
			raw, err := os.ReadFile(strings.TrimSuffix(path, ".toml") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got := normaliseJSON(map[string]any(tagged(tree)))
			if want = normaliseJSON(want); !reflect.DeepEqual(got, want) {
				t.Errorf("accepted with a different value:\n got %v\nwant %v", got, want)
			}
		})
	}
	t.Logf("toml-test valid: %d of %d accepted with the exact expected value, the rest rejected as outside the subset", len(accepted), len(files))
	if len(accepted) < minAccepted {
		t.Errorf("only %d valid cases accepted, want at least %d", len(accepted), minAccepted)
	}
	for _, rel := range mustAccept {
		if !accepted[rel] {
			t.Errorf("%s uses only subset syntax but was not accepted", rel)
		}
	}
}

func TestConformanceInvalid(t *testing.T) {
	dir := conformanceDir(t)
	files := tomlFiles(t, filepath.Join(dir, "invalid"))
	rejected := 0
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := safeParse(data)
			switch {
			case errors.Is(perr, errPanic):
				t.Fatal(perr)
			case perr == nil:
				t.Fatalf("accepted an invalid document:\n%s", data)
			}
			rejected++
		})
	}
	t.Logf("toml-test invalid: %d of %d rejected", rejected, len(files))
}
