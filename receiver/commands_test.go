package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs a command line in process and returns its exit code, stdout
// and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// oneJSON decodes stdout, which must hold exactly one JSON document.
func oneJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
	return m
}

func TestMaintenanceCommands(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "store"), 0o750)
	os.WriteFile(filepath.Join(dir, "store", "orphan.tar.zst"), []byte("not really zstd"), 0o640)
	badCfg := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(badCfg, []byte("[server]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n"), 0o600)
	goodCfg := writeConfig(t, dir, "")

	t.Run("fsck finds the file without a row: exit 1", func(t *testing.T) {
		code, out, _ := runCmd(t, "fsck", "--json", "--data-dir", dir)
		m := oneJSON(t, out)
		probs, _ := m["problems"].([]any)
		if code != exitProblem || m["ok"] != false || len(probs) != 1 || probs[0].(map[string]any)["kind"] != "file-without-row" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("index-backfill --dry-run reports and writes nothing", func(t *testing.T) {
		code, out, _ := runCmd(t, "index-backfill", "--dry-run", "--json", "--data-dir", dir)
		m := oneJSON(t, out)
		if code != exitOK || m["added"] != 1.0 {
			t.Errorf("exit %d, %v", code, m)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "index.jsonl")); len(b) != 0 {
			t.Errorf("dry run wrote %q", b)
		}
	})
	t.Run("index-backfill adds the row, a second run adds none", func(t *testing.T) {
		for i, wantAdded := range []any{1.0, 0.0} {
			code, out, _ := runCmd(t, "index-backfill", "--json", "--data-dir", dir)
			m := oneJSON(t, out)
			rows, _ := m["rows"].([]any)
			if code != exitOK || m["added"] != wantAdded || rows == nil {
				t.Errorf("run %d: exit %d, %v", i+1, code, m)
			}
		}
	})
	t.Run("fsck is clean afterwards: exit 0", func(t *testing.T) {
		code, out, _ := runCmd(t, "fsck", "--verify", "--json", "--data-dir", dir)
		if m := oneJSON(t, out); code != exitOK || m["ok"] != true {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("check-config accepts a good file", func(t *testing.T) {
		code, out, _ := runCmd(t, "check-config", "--json", "--config", goodCfg)
		if m := oneJSON(t, out); code != exitOK || m["ok"] != true {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	for _, cmd := range []string{"check-config", "fsck", "index-backfill", "serve"} {
		t.Run(cmd+" with a bad config: exit 2 naming file, line and key, JSON error", func(t *testing.T) {
			code, out, errs := runCmd(t, cmd, "--json", "--config", badCfg)
			m := oneJSON(t, out)
			want := badCfg + `:3:1: key "server.listne"`
			if code != exitConfigEr || m["error"] != "config" || !strings.Contains(m["detail"].(string), want) || !strings.Contains(errs, want) {
				t.Errorf("exit %d, stdout %v, stderr %q", code, m, errs)
			}
		})
	}
	t.Run("index-backfill beside a running receiver refuses: exit 1", func(t *testing.T) {
		startReceiver(t, nil, "--config", goodCfg)
		code, out, _ := runCmd(t, "index-backfill", "--json", "--data-dir", dir)
		if m := oneJSON(t, out); code != exitProblem || m["error"] != "locked" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"no-such-command"}, {"fsck", "--no-such-flag"}, {"fsck", "extra"}} {
			if code, _, _ := runCmd(t, args...); code != exitUsage {
				t.Errorf("%v: exit %d, want 2", args, code)
			}
		}
	})
	t.Run("--version", func(t *testing.T) {
		code, out, _ := runCmd(t, "fsck", "--version")
		if code != exitOK || !strings.HasPrefix(out, "cis490-receiver ") {
			t.Errorf("exit %d, %q", code, out)
		}
	})
}
