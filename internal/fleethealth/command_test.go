package fleethealth

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCommand(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Command(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommandJSON(t *testing.T) {
	dir := t.TempDir()
	mustWriteRows(t, dir, IndexFile, stored("lab1", 2*time.Hour))
	args := []string{"--data-dir", dir, "--json", "--now", "2026-11-23T14:30:00Z"}

	var doc struct {
		Schema      int               `json:"schema"`
		GeneratedAt string            `json:"generated_at"`
		Findings    []json.RawMessage `json:"findings"`
	}
	for i, wantNew := range []bool{true, false} {
		code, stdout, stderr := runCommand(args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d, stderr %s", i, code, stderr)
		}
		dec := json.NewDecoder(strings.NewReader(stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("stdout %q: %v", stdout, err)
		}
		if doc.Schema != 1 || doc.GeneratedAt != "2026-11-23T14:30:00.000Z" || len(doc.Findings) != 1 {
			t.Fatalf("doc = %+v", doc)
		}
		var f map[string]any
		json.Unmarshal(doc.Findings[0], &f)
		for _, k := range []string{"host", "symptom", "detail", "bucket", "ts", "new"} {
			if _, ok := f[k]; !ok {
				t.Errorf("finding lacks %q: %s", k, doc.Findings[0])
			}
		}
		if f["new"] != wantNew || f["host"] != "lab1" || f["symptom"] != "silent" {
			t.Errorf("run %d: finding = %s, want new=%v", i, doc.Findings[0], wantNew)
		}
		if got := strings.Contains(stderr, "fleet-health: host=lab1 symptom=silent"); got != wantNew {
			t.Errorf("run %d: warning logged = %v, want %v (stderr %q)", i, got, wantNew, stderr)
		}
	}
}

func TestCommandHealthyFleet(t *testing.T) {
	code, stdout, _ := runCommand("--data-dir", t.TempDir(), "--json", "--now", "2026-11-23T14:30:00Z")
	if code != 0 || !strings.Contains(stdout, `"findings":[]`) {
		t.Errorf("exit %d, stdout %q; want 0 and an empty findings list", code, stdout)
	}
}

func TestCommandHuman(t *testing.T) {
	dir := t.TempDir()
	mustWriteRows(t, dir, AttemptsFile, unstampedTry("lab3", time.Minute, 201))
	code, stdout, _ := runCommand("--data-dir", dir, "--now", "2026-11-23T14:30:00Z")
	if code != 0 || !strings.HasPrefix(stdout, "lab3  unstamped  new  1 attempt(s)") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"--bogus", "--json"}, 2, "usage"},
		{"positional argument", []string{"--json", "extra"}, 2, "usage"},
		{"bad --now", []string{"--json", "--now", "yesterday"}, 2, "usage"},
		{"missing data dir", []string{"--json", "--data-dir", filepath.Join(t.TempDir(), "nope")}, 1, "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, _ := runCommand(tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d", code, tt.wantCode)
			}
			var body struct{ Error, Detail string }
			if err := json.Unmarshal([]byte(stdout), &body); err != nil || body.Error != tt.wantErr || body.Detail == "" {
				t.Errorf("stdout = %q, want {\"error\":%q,\"detail\":…}", stdout, tt.wantErr)
			}
		})
	}
}

func TestCommandConfig(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mustWriteRows(t, data, IndexFile, stored("lab1", 2*time.Hour))
	good := filepath.Join(dir, "good.toml")
	mustWrite(t, good, "[server]\ndata_dir = \""+data+"\"\n[fleet_health]\nsilent_after_s = 10800\n")
	bad := filepath.Join(dir, "bad.toml")
	mustWrite(t, bad, "[fleet_health]\nsilent_after = 1\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"config thresholds apply", []string{"--config", good, "--json", "--now", "2026-11-23T14:30:00Z"}, 0, `"findings":[]`},
		{"--data-dir overrides the config", []string{"--config", good, "--data-dir", t.TempDir(), "--json"}, 0, `"findings":[]`},
		{"unknown key is a config error", []string{"--config", bad, "--json"}, 2, `"error":"config"`},
		{"missing --config file is a config error", []string{"--config", filepath.Join(dir, "nope.toml"), "--json"}, 2, `"error":"config"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantOut) {
				t.Errorf("exit %d, stdout %q (stderr %q); want %d and %s", code, stdout, stderr, tt.wantCode, tt.wantOut)
			}
		})
	}
}
