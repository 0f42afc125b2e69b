package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/buildinfo"
)

// fleetNow is the clock the fleet-health tests evaluate at.
const fleetNow = "2026-11-23T14:30:00Z"

// storedRow is an index row of host received two hours before fleetNow.
func storedRow(host string) string {
	return `{"id":"ep-` + host + `","host":"` + host + `","sha256":"` + strings.Repeat("a", 64) +
		`","bytes":1,"received_at":"2026-11-23T12:30:00.000Z","commit":"0123456789abcdef0123456789abcdef01234567","source":"receiver"}`
}

// unstampedAttempt is an accepted upload of host a minute before fleetNow,
// without a commit stamp.
func unstampedAttempt(host string) string {
	return `{"ts":"2026-11-23T14:29:00.000Z","host":"` + host + `","id":"ep-raw","status":201,"error":"","commit":""}`
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fleetDoc is the --json document of fleet-health (SPEC §10).
type fleetDoc struct {
	Schema      int               `json:"schema"`
	GeneratedAt string            `json:"generated_at"`
	Findings    []json.RawMessage `json:"findings"`
}

func decodeFleetDoc(t *testing.T, stdout string) fleetDoc {
	t.Helper()
	var doc fleetDoc
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
	return doc
}

func TestFleetHealthJSON(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "index.jsonl"), storedRow("lab1"))
	args := []string{"fleet-health", "--data-dir", dir, "--json", "--now", fleetNow}

	for i, wantNew := range []bool{true, false} {
		code, stdout, stderr := runCmd(t, args...)
		if code != exitOK {
			t.Fatalf("run %d: exit %d, stderr %s", i, code, stderr)
		}
		if !strings.HasPrefix(stdout, "{\n  \"schema\"") {
			t.Errorf("run %d: stdout is not indented like the other commands' JSON:\n%s", i, stdout)
		}
		doc := decodeFleetDoc(t, stdout)
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

func TestFleetHealthHealthyFleet(t *testing.T) {
	code, stdout, _ := runCmd(t, "fleet-health", "--data-dir", t.TempDir(), "--json", "--now", fleetNow)
	doc := decodeFleetDoc(t, stdout)
	if code != exitOK || doc.Findings == nil || len(doc.Findings) != 0 {
		t.Errorf("exit %d, stdout %q; want 0 and an empty findings list", code, stdout)
	}
}

func TestFleetHealthHuman(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "attempts.jsonl"), unstampedAttempt("lab3"))
	code, stdout, _ := runCmd(t, "fleet-health", "--data-dir", dir, "--now", fleetNow)
	if code != exitOK || !strings.HasPrefix(stdout, "lab3  unstamped  new  1 attempt(s)") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestFleetHealthVersion(t *testing.T) {
	code, stdout, stderr := runCmd(t, "fleet-health", "--version")
	if code != exitOK || strings.TrimSpace(stdout) != buildinfo.String("cis490-receiver") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestFleetHealthLogsWithoutTimestamps(t *testing.T) {
	dir := t.TempDir()
	writeLines(t, filepath.Join(dir, "index.jsonl"), storedRow("lab1"))
	// A notify command that fails makes the check log a failure that does
	// not stop it.
	cfg := writeConfig(t, dir, "[fleet_health]\nnotify_command = \"exit 3\"\n")
	code, _, stderr := runCmd(t, "fleet-health", "--config", cfg, "--now", fleetNow)
	if code != exitOK || !strings.Contains(stderr, "level=") {
		t.Fatalf("exit %d, stderr %q; want 0 and a logged notify failure", code, stderr)
	}
	if strings.Contains(stderr, "time=") {
		t.Errorf("logs carry timestamps (journald adds its own):\n%s", stderr)
	}
}

func TestFleetHealthErrors(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"--bogus", "--json"}, exitUsage, "usage"},
		{"positional argument", []string{"--json", "extra"}, exitUsage, "usage"},
		{"bad --now", []string{"--json", "--now", "yesterday"}, exitUsage, "usage"},
		{"missing data dir", []string{"--json", "--data-dir", filepath.Join(t.TempDir(), "nope")}, exitProblem, "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, _ := runCmd(t, append([]string{"fleet-health"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit = %d, want %d", code, tt.wantCode)
			}
			m := oneJSON(t, stdout)
			if m["error"] != tt.wantErr || m["detail"] == "" {
				t.Errorf("stdout = %q, want {\"error\":%q,\"detail\":…}", stdout, tt.wantErr)
			}
		})
	}
}

func TestFleetHealthConfig(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	writeLines(t, filepath.Join(data, "index.jsonl"), storedRow("lab1"))
	good := writeConfig(t, data, "[fleet_health]\nsilent_after_s = 10800\n")
	bad := filepath.Join(dir, "bad.toml")
	writeLines(t, bad, "[fleet_health]", "silent_after = 1")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // "" for a findings document with no findings
	}{
		{"config thresholds apply", []string{"--config", good, "--json", "--now", fleetNow}, exitOK, ""},
		{"--data-dir overrides the config", []string{"--config", good, "--data-dir", t.TempDir(), "--json"}, exitOK, ""},
		{"unknown key is a config error", []string{"--config", bad, "--json"}, exitConfigEr, "config"},
		{"missing --config file is a config error", []string{"--config", filepath.Join(dir, "nope.toml"), "--json"}, exitConfigEr, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"fleet-health"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, stdout %q (stderr %q); want %d", code, stdout, stderr, tt.wantCode)
			}
			if tt.wantErr != "" {
				if m := oneJSON(t, stdout); m["error"] != tt.wantErr {
					t.Errorf("stdout %q, want error %q", stdout, tt.wantErr)
				}
				return
			}
			if doc := decodeFleetDoc(t, stdout); len(doc.Findings) != 0 {
				t.Errorf("findings %s, want none", stdout)
			}
		})
	}
}
