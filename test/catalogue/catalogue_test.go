package catalogue

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cited matches a test named in the docs: `receiver/api.TestPutRefusals`,
// optionally with a subtest (`…/disk_full`).
var cited = regexp.MustCompile("`([a-z0-9_]+(?:/[a-z0-9_]+)*)\\.((?:Test|Fuzz)[A-Za-z0-9_]+)(?:/[^`]*)?`")

// section returns the lines of the "## <title>" section of doc.
func section(doc, title string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line[3:]) == title
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	return out
}

// testExists reports whether a _test.go file in dir declares func name.
func testExists(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\nfunc "+name+"(") {
			return true
		}
	}
	return false
}

// TestCatalogueCitesOnlyTestsThatExist keeps docs/RELIABILITY.md honest:
// every row of the failure catalogue names at least one test, and every
// test named in the catalogue, fuzzing and security sections is declared
// in the package it is cited from. Renaming or deleting a test without
// fixing the document fails here.
func TestCatalogueCitesOnlyTestsThatExist(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "docs", "RELIABILITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rows := 0
	for _, line := range section(doc, "Failure catalogue") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| #") {
			continue
		}
		rows++
		if !cited.MatchString(line) {
			t.Errorf("catalogue row cites no test: %s", line)
		}
	}
	if rows < 20 {
		t.Errorf("the failure catalogue has %d rows; the table is missing or was cut", rows)
	}
	checked := 0
	for _, title := range []string{"Failure catalogue", "Fuzzing", "Security"} {
		for _, line := range section(doc, title) {
			for _, m := range cited.FindAllStringSubmatch(line, -1) {
				pkg, name := m[1], m[2]
				checked++
				if st, err := os.Stat(filepath.Join(root, pkg)); err != nil || !st.IsDir() {
					t.Errorf("%s: %s cites package %s, which does not exist", title, m[0], pkg)
					continue
				}
				if !testExists(t, filepath.Join(root, pkg), name) {
					t.Errorf("%s: %s cites %s, not declared in %s/*_test.go", title, m[0], name, pkg)
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no test citations found")
	}
}
