package house

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// layoutOwners maps each on-disk name to the one package that may spell it.
// Everyone else asks that package's Layout for the path.
var layoutOwners = map[string]string{
	// The receiver's data directory (SPEC §5).
	"index.jsonl":      "receiver/datadir",
	"attempts.jsonl":   "receiver/datadir",
	"attempts.jsonl.1": "receiver/datadir",
	"alerts.jsonl":     "receiver/datadir",
	"host-health":      "receiver/datadir",
	"store":            "receiver/datadir",
	"tmp":              "receiver/datadir",
	".receiver.lock":   "receiver/datadir",
	// The shipper's queue on a lab host (SPEC §3, §8).
	"episodes":               "internal/queuedir",
	"outbox":                 "internal/queuedir",
	"shipped":                "internal/queuedir",
	"quarantine":             "internal/queuedir",
	".shipper.lock":          "internal/queuedir",
	"quarantine_reason.json": "internal/queuedir",
}

// layoutExempt lists literals that equal a layout name but mean something
// else: file (slash-separated, from the repository root) -> literal.
var layoutExempt = map[string]string{
	"internal/wire/logs.go": "shipped", // the log event of a retired episode
}

// TestLayoutNamesHaveOneOwner fails when production code outside an owner
// package spells one of the owner's file or directory names as a string
// literal (struct tags aside), instead of asking the owner's Layout.
func TestLayoutNamesHaveOneOwner(t *testing.T) {
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		tags := map[*ast.BasicLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if fld, ok := n.(*ast.Field); ok && fld.Tag != nil {
				tags[fld.Tag] = true
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || tags[lit] {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			owner, named := layoutOwners[s]
			if !named || filepath.ToSlash(filepath.Dir(rel)) == owner || layoutExempt[rel] == s {
				return true
			}
			t.Errorf("%s spells %q: ask %s for the path", rel, s, owner)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
