package house

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// layoutOwners maps each on-disk name to the one package that may spell it.
// Everyone else asks that package's Layout for the path.
var layoutOwners = map[string]string{
	// The receiver's data directory (SPEC §5).
	"index.jsonl":         "receiver/datadir",
	"attempts.jsonl":      "receiver/datadir",
	"attempts.jsonl.1":    "receiver/datadir",
	"alerts.jsonl":        "receiver/datadir",
	"host-health":         "receiver/datadir",
	"store":               "receiver/datadir",
	"tmp":                 "receiver/datadir",
	".receiver.lock":      "receiver/datadir",
	"hosts":               "receiver/datadir",
	"releases":            "receiver/datadir",
	"replica.jsonl":       "receiver/datadir",
	"replica-status.json": "receiver/datadir",
	"replica-days.json":   "receiver/datadir",
	// The shipper's queue on a lab host (SPEC §3, §8).
	"episodes":               "internal/queuedir",
	"outbox":                 "internal/queuedir",
	"shipped":                "internal/queuedir",
	"quarantine":             "internal/queuedir",
	".shipper.lock":          "internal/queuedir",
	"quarantine_reason.json": "internal/queuedir",
	"meta.json":              "internal/queuedir",
}

// layoutExempt lists literals that equal a layout name but mean something
// else: file (slash-separated, from the repository root) -> literal.
var layoutExempt = map[string]string{
	"internal/wire/logs.go": "shipped",   // the log event of a retired episode
	"internal/pack/read.go": "meta.json", // the member inside the tarball, not a path
}

// TestLayoutNamesHaveOneOwner fails when production code outside an owner
// package spells one of the owner's file or directory names where a path is
// made (see pathLiterals), instead of asking the owner's Layout.
func TestLayoutNamesHaveOneOwner(t *testing.T) {
	eachProductionFile(t, func(rel string, f *ast.File) {
		for _, lit := range pathLiterals(f) {
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				continue
			}
			owner, named := layoutOwners[v]
			if !named || path.Dir(rel) == owner || layoutExempt[rel] == v {
				continue
			}
			t.Errorf("%s spells %q: ask %s for the path", rel, v, owner)
		}
	})
}

// eachProductionFile parses every non-test Go file of the repository and
// calls fn with its slash-separated path from the root.
func eachProductionFile(t *testing.T, fn func(rel string, f *ast.File)) {
	t.Helper()
	root := repoRoot(t)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "dist") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fn(filepath.ToSlash(rel), f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pathLiterals returns the string literals of f that can name a file: the
// value of a constant or variable, an operand of +, and an argument of a
// call into os, filepath or path. Map keys, struct tags and the like (JSON
// field names such as "hosts") are not paths.
func pathLiterals(f *ast.File) []*ast.BasicLit {
	var out []*ast.BasicLit
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			out = append(out, lit)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for _, v := range n.Values {
				add(v)
			}
		case *ast.AssignStmt:
			for _, v := range n.Rhs {
				add(v)
			}
		case *ast.BinaryExpr:
			if n.Op == token.ADD {
				add(n.X)
				add(n.Y)
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "os" || pkg.Name == "filepath" || pkg.Name == "path") {
					for _, a := range n.Args {
						add(a)
					}
				}
			}
		}
		return true
	})
	return out
}

// TestOneLogKeyForErrors fails when production code logs an error under
// "err": every error is logged as error=<value> (internal/cmdline.ErrorKey),
// the key the doctor already reads the receiver's codes from.
func TestOneLogKeyForErrors(t *testing.T) {
	eachProductionFile(t, func(rel string, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value == `"err"` {
				t.Errorf("%s logs under \"err\"; use \"error\"", rel)
			}
			return true
		})
	})
}

// TestTestutilOnlyInTests fails when production code imports
// internal/testutil, whose harnesses must never be linked into a binary.
func TestTestutilOnlyInTests(t *testing.T) {
	eachProductionFile(t, func(rel string, f *ast.File) {
		if strings.HasPrefix(rel, "internal/testutil/") {
			return
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"cis490/internal/testutil"` {
				t.Errorf("%s imports internal/testutil outside a test", rel)
			}
		}
	})
}

// rowKeyOwners maps the JSON keys that fast readers search for, as they
// appear in a row (`"key":`), to the packages that own rows holding them.
// Anyone else reads and writes rows through those packages' types.
var rowKeyOwners = map[string][]string{
	`"id":`:          {"internal/index"},
	`"sha256":`:      {"internal/index"},
	`"ts":`:          {"internal/index"},
	`"received_at":`: {"internal/index", "receiver/hosthealth"},
	`"host":`:        {"internal/index", "receiver/hosthealth"},
}

// rowKeyExempt lists files that write rows by hand on purpose.
var rowKeyExempt = map[string]string{
	"bench/receiver/baseline.go": "the trivial baseline handlers measure the machine without the receiver's code",
	"bench/receiver/fsyncs.go":   "the fsync benchmark appends a fixed line, not the receiver's rows",
}

// TestRowKeysHaveOneOwner fails when production code outside a row's owner
// spells one of its keys in a string, as a hand-made row or a byte search
// would.
func TestRowKeysHaveOneOwner(t *testing.T) {
	eachProductionFile(t, func(rel string, f *ast.File) {
		if _, ok := rowKeyExempt[rel]; ok {
			return
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for key, owners := range rowKeyOwners {
				if strings.Contains(v, key) && !slices.Contains(owners, path.Dir(rel)) {
					t.Errorf("%s spells the row key %s: use the row types of %v", rel, key, owners)
				}
			}
			return true
		})
	})
}
