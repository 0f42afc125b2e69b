package fleethealth

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/wire"
	"cis490/receiver/datadir"
)

func mustReadAlerts(tb testing.TB, dir string) []alertRow {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, datadir.AlertsFile))
	if err != nil {
		tb.Fatal(err)
	}
	var rows []alertRow
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var a alertRow
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			tb.Fatalf("alerts line %q: %v", line, err)
		}
		rows = append(rows, a)
	}
	return rows
}

func TestDedup(t *testing.T) {
	dir := t.TempDir()
	mustWriteRows(t, dir, datadir.IndexFile, stored("lab1", 3*time.Hour))
	run := func(at time.Time) (Report, string) {
		var warn bytes.Buffer
		rep, err := Run(context.Background(), Options{DataDir: dir, Config: defaults(), Now: at, Warn: &warn})
		if err != nil {
			t.Fatal(err)
		}
		return rep, warn.String()
	}

	t.Run("first run raises the alert", func(t *testing.T) {
		rep, warn := run(now)
		if len(rep.Findings) != 1 || !rep.Findings[0].New {
			t.Fatalf("findings = %+v, want one new", rep.Findings)
		}
		want := `fleet-health: host=lab1 symptom=silent detail="`
		if !strings.HasPrefix(warn, want) || strings.Count(warn, "\n") != 1 {
			t.Errorf("warning = %q, want one line starting %q", warn, want)
		}
		rows := mustReadAlerts(t, dir)
		if len(rows) != 1 || rows[0].Bucket != "2026-11-23T14" || rows[0].TS != wire.FormatTime(now) || rows[0].Host != "lab1" {
			t.Errorf("alerts = %+v", rows)
		}
	})
	t.Run("same hour is not raised again", func(t *testing.T) {
		rep, warn := run(now.Add(25 * time.Minute))
		if len(rep.Findings) != 1 || rep.Findings[0].New {
			t.Fatalf("findings = %+v, want one old", rep.Findings)
		}
		if got, want := rep.Findings[0].TS, wire.FormatTime(now); got != want {
			t.Errorf("ts = %s, want the first raise %s", got, want)
		}
		if warn != "" {
			t.Errorf("warning = %q, want none", warn)
		}
		if n := len(mustReadAlerts(t, dir)); n != 1 {
			t.Errorf("alerts rows = %d, want 1", n)
		}
	})
	t.Run("next hour raises it again", func(t *testing.T) {
		rep, warn := run(now.Add(35 * time.Minute))
		if len(rep.Findings) != 1 || !rep.Findings[0].New || rep.Findings[0].Bucket != "2026-11-23T15" {
			t.Fatalf("findings = %+v, want one new in bucket 15", rep.Findings)
		}
		if warn == "" {
			t.Error("no warning line for the new alert")
		}
		if n := len(mustReadAlerts(t, dir)); n != 2 {
			t.Errorf("alerts rows = %d, want 2", n)
		}
	})
	t.Run("torn alerts line is repaired before appending", func(t *testing.T) {
		f, err := os.OpenFile(filepath.Join(dir, datadir.AlertsFile), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"ts":"2026-11-23T16:00:00.000Z","host":"lab1","sym`)
		f.Close()
		rep, _ := run(now.Add(95 * time.Minute))
		if !rep.Findings[0].New {
			t.Fatal("want a new alert in bucket 16")
		}
		if n := len(mustReadAlerts(t, dir)); n != 3 {
			t.Errorf("alerts rows = %d, want 3", n)
		}
	})
}

func TestNotify(t *testing.T) {
	tests := []struct {
		name    string
		command string
		wantLog string
	}{
		{name: "receives the alert JSON on stdin", command: `cat > "$OUT"; printf '%s %s' "$CIS490_ALERT_HOST" "$CIS490_ALERT_SYMPTOM" > "$OUT.env"`},
		{name: "failure is logged, not fatal", command: "exit 3", wantLog: "exit status 3"},
		{name: "hung command is killed at the limit", command: "sleep 60", wantLog: "killed after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(t.TempDir(), "alert.json")
			t.Setenv("OUT", out)
			if strings.Contains(tt.command, "sleep") {
				old := notifyTimeout
				notifyTimeout = 200 * time.Millisecond
				t.Cleanup(func() { notifyTimeout = old })
			}
			mustWriteRows(t, dir, datadir.AttemptsFile, unstampedTry("lab3", time.Minute, 201))
			cfg := defaults()
			cfg.NotifyCommand = tt.command
			var log bytes.Buffer
			rep, err := Run(context.Background(), Options{DataDir: dir, Config: cfg, Now: now,
				Logger: newTextLogger(&log)})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(rep.Findings) != 1 || !rep.Findings[0].New {
				t.Fatalf("findings = %+v", rep.Findings)
			}
			if tt.wantLog != "" {
				if !strings.Contains(log.String(), tt.wantLog) {
					t.Errorf("log = %q, want it to mention %q", log.String(), tt.wantLog)
				}
				return
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var a alertRow
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("stdin %q: %v", b, err)
			}
			if a.Host != "lab3" || a.Symptom != SymptomUnstamped || a.Bucket != "2026-11-23T14" || a.TS != wire.FormatTime(now) {
				t.Errorf("alert on stdin = %+v", a)
			}
			env, _ := os.ReadFile(out + ".env")
			if got, want := string(env), "lab3 unstamped"; got != want {
				t.Errorf("environment = %q, want %q", got, want)
			}
		})
	}
}

func TestWarningLine(t *testing.T) {
	tests := []struct {
		name    string
		journal bool
		want    string
	}{
		{"plain", false, "fleet-health: host=lab1 symptom=silent detail=\"no upload \\\"x\\\"\"\n"},
		{"journald priority prefix", true, "<4>fleet-health: host=lab1 symptom=silent detail=\"no upload \\\"x\\\"\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WarningLine("lab1", "silent", `no upload "x"`, tt.journal); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
