package fleethealth

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/wire"
)

var now = time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)

const commit = "0123456789abcdef0123456789abcdef01234567"

func ts(d time.Duration) string { return wire.FormatTime(now.Add(-d)) }

func stored(host string, ago time.Duration) index.Row {
	return index.Row{ID: "ep-" + host, Host: host, SHA256: strings.Repeat("a", 64), Bytes: 1,
		ReceivedAt: ts(ago), Commit: commit, Source: index.SourceReceiver}
}

func tried(host string, ago time.Duration, status int, code string) attempt {
	return attempt{TS: ts(ago), Host: host, ID: "ep-1", Status: status, Error: code, Commit: commit}
}

func unstampedTry(host string, ago time.Duration, status int) attempt {
	a := tried(host, ago, status, "")
	a.Commit = ""
	a.ID = "ep-raw"
	return a
}

// mustWriteRows writes rows as JSON lines to dir/name, oldest first.
func mustWriteRows[T any](tb testing.TB, dir, name string, rows ...T) {
	tb.Helper()
	var b bytes.Buffer
	for _, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		b.Write(append(line, '\n'))
	}
	mustWrite(tb, filepath.Join(dir, name), b.String())
}

func mustWrite(tb testing.TB, path, s string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func mustHealth(tb testing.TB, dir, host string, ago time.Duration) {
	tb.Helper()
	mustWrite(tb, filepath.Join(dir, HealthDir, host+".json"),
		`{"host":"`+host+`","received_at":"`+ts(ago)+`","report":{"overall":"ok"}}`)
}

func defaults() config.FleetHealth { return config.DefaultReceiver().FleetHealth }

// mustRun runs the check in dir and returns "host symptom" per finding.
func mustRun(tb testing.TB, dir string, cfg config.FleetHealth, at time.Time) (got []string, rep Report) {
	tb.Helper()
	rep, err := Run(context.Background(), Options{DataDir: dir, Config: cfg, Now: at})
	if err != nil {
		tb.Fatalf("Run: %v", err)
	}
	for _, f := range rep.Findings {
		got = append(got, f.Host+" "+f.Symptom)
	}
	return got, rep
}

func TestSymptoms(t *testing.T) {
	expectLab9 := defaults()
	expectLab9.ExpectedHosts = []string{"lab9"}
	tests := []struct {
		name     string
		cfg      config.FleetHealth
		index    []index.Row
		attempts []attempt
		health   map[string]time.Duration // host → report age
		want     []string
	}{
		{
			name:  "quiet 31 min after storing is silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []attempt{tried("lab1", 31*time.Minute, 201, "")},
			want: []string{"lab1 silent"},
		},
		{
			name:  "quiet 29 min is not silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []attempt{tried("lab1", 29*time.Minute, 201, "")},
		},
		{
			name:  "quiet exactly silent_after_s is not silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []attempt{tried("lab1", 30*time.Minute, 201, "")},
		},
		{
			name:  "no attempt at all after storing is silent",
			index: []index.Row{stored("lab1", 3*time.Hour)},
			want:  []string{"lab1 silent"},
		},
		{
			name:  "a stored episode counts as an attempt when the attempts log lacks it",
			index: []index.Row{stored("lab1", 20*time.Minute)},
		},
		{
			name:  "stored more than active_window_s ago is not silent",
			index: []index.Row{stored("lab1", 25*time.Hour)},
		},
		{
			name:  "backfilled rows do not make a host active",
			index: []index.Row{func() index.Row { r := stored("unknown", time.Hour); r.Source = index.SourceBackfill; return r }()},
		},
		{
			name: "two refusals are not fatal-only",
			attempts: []attempt{
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "three refusals are fatal-only",
			attempts: []attempt{
				tried("lab2", 30*time.Minute, 400, "missing-commit"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "one 2xx among refusals clears fatal-only",
			attempts: []attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 200, ""),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "a 5xx among refusals clears fatal-only",
			attempts: []attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 503, "busy"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "aborted attempts neither count nor clear",
			attempts: []attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 0, "aborted"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "aborted attempts alone are not fatal-only",
			attempts: []attempt{
				tried("lab2", 30*time.Minute, 0, "aborted"),
				tried("lab2", 20*time.Minute, 0, "aborted"),
				tried("lab2", 10*time.Minute, 0, "aborted"),
			},
		},
		{
			name: "refusals older than fatal_window_s do not count",
			attempts: []attempt{
				tried("lab2", 70*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name:     "attempt without commit is unstamped",
			attempts: []attempt{unstampedTry("lab3", 10*time.Minute, 201)},
			want:     []string{"lab3 unstamped"},
		},
		{
			name:     "unstamped attempt older than fatal_window_s is forgotten",
			attempts: []attempt{unstampedTry("lab3", 61*time.Minute, 201), tried("lab3", time.Minute, 201, "")},
		},
		{
			name:     "attempts from invalid host headers are not attributed",
			attempts: []attempt{unstampedTry("", 10*time.Minute, 400), unstampedTry("bad host", 9*time.Minute, 400)},
		},
		{
			name: "expected host with nothing at all is silent and stale",
			cfg:  expectLab9,
			want: []string{"lab9 silent", "lab9 stale-health"},
		},
		{
			name:     "expected host that reports and uploads is fine",
			cfg:      expectLab9,
			attempts: []attempt{tried("lab9", time.Minute, 201, "")},
			health:   map[string]time.Duration{"lab9": time.Hour},
		},
		{
			name:   "health report older than health_max_age_s is stale",
			health: map[string]time.Duration{"lab4": 36*time.Hour + time.Minute},
			want:   []string{"lab4 stale-health"},
		},
		{
			name:   "health report of exactly health_max_age_s is not stale",
			health: map[string]time.Duration{"lab4": 36 * time.Hour},
		},
		{
			name:     "host that never reported and is not expected is not stale",
			index:    []index.Row{stored("lab5", time.Hour)},
			attempts: []attempt{tried("lab5", time.Minute, 201, "")},
		},
		{
			name:  "rows after now are ignored",
			index: []index.Row{stored("lab1", 2*time.Hour)},
			attempts: []attempt{
				tried("lab1", 40*time.Minute, 201, ""),
				tried("lab1", -10*time.Minute, 201, ""),
			},
			want: []string{"lab1 silent"},
		},
		{
			name: "several hosts sort by host then symptom",
			index: []index.Row{
				stored("lab2", 5*time.Hour), stored("lab1", 4*time.Hour),
			},
			attempts: []attempt{
				unstampedTry("lab2", 50*time.Minute, 400),
				unstampedTry("lab2", 45*time.Minute, 400),
				unstampedTry("lab2", 40*time.Minute, 400),
			},
			want: []string{"lab1 silent", "lab2 silent", "lab2 fatal-only", "lab2 unstamped"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tt.cfg
			if cfg.SilentAfterS == 0 {
				cfg = defaults()
			}
			mustWriteRows(t, dir, IndexFile, tt.index...)
			mustWriteRows(t, dir, AttemptsFile, tt.attempts...)
			for h, age := range tt.health {
				mustHealth(t, dir, h, age)
			}
			got, _ := mustRun(t, dir, cfg, now)
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTails(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{
			name: "torn last attempt line is skipped",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, IndexFile, stored("lab1", 2*time.Hour))
				b, _ := json.Marshal(tried("lab1", time.Minute, 201, ""))
				mustWrite(t, filepath.Join(dir, AttemptsFile), string(b)) // no newline: torn
			},
			want: []string{"lab1 silent"},
		},
		{
			name: "torn last index line is skipped",
			setup: func(t *testing.T, dir string) {
				b, _ := json.Marshal(stored("lab1", 2*time.Hour))
				mustWrite(t, filepath.Join(dir, IndexFile), string(b))
			},
		},
		{
			name: "malformed lines are skipped",
			setup: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, IndexFile), "not json\n{\"id\":\"x\"}\n")
				mustWrite(t, filepath.Join(dir, AttemptsFile), "{]\n")
			},
		},
		{
			name: "rotated attempts file is read when the current one is short",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, AttemptsRotated,
					tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
					tried("lab2", 30*time.Minute, 412, "commit-not-in-window"))
				mustWriteRows(t, dir, AttemptsFile, tried("lab2", 10*time.Minute, 412, "commit-not-in-window"))
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "rotated attempts file is not needed when the current one reaches back",
			setup: func(t *testing.T, dir string) {
				// An unstamped attempt in .1 would be visible if .1 were read.
				mustWriteRows(t, dir, AttemptsRotated, unstampedTry("lab3", 20*time.Minute, 201))
				mustWriteRows(t, dir, AttemptsFile,
					tried("lab3", 3*time.Hour, 201, ""), tried("lab3", time.Minute, 201, ""))
			},
		},
		{
			name: "index read stops at the first row older than the window and slack",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, IndexFile, stored("lab1", time.Hour), stored("lab2", 30*24*time.Hour))
			},
		},
		{
			name: "index rows out of order within the slack are still read",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, IndexFile, stored("lab1", time.Hour), stored("lab2", 24*time.Hour+2*time.Minute))
			},
			want: []string{"lab1 silent"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			got, _ := mustRun(t, dir, defaults(), now)
			if !slices.Equal(got, tt.want) {
				t.Errorf("findings = %q, want %q", got, tt.want)
			}
		})
	}
}

func mustReadAlerts(tb testing.TB, dir string) []alertRow {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, AlertsFile))
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
	mustWriteRows(t, dir, IndexFile, stored("lab1", 3*time.Hour))
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
		f, err := os.OpenFile(filepath.Join(dir, AlertsFile), os.O_APPEND|os.O_WRONLY, 0)
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
			mustWriteRows(t, dir, AttemptsFile, unstampedTry("lab3", time.Minute, 201))
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

func TestHuman(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"}, {31 * time.Minute, "31m"}, {2 * time.Hour, "2h"},
		{125 * time.Minute, "2h5m"}, {48 * time.Hour, "2d"}, {76 * time.Hour, "3d4h"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := human(tt.d); got != tt.want {
				t.Errorf("human(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestMissingDataDir(t *testing.T) {
	_, err := Run(context.Background(), Options{DataDir: filepath.Join(t.TempDir(), "nope"), Config: defaults(), Now: now})
	if err == nil {
		t.Fatal("Run succeeded on a missing data dir")
	}
}

func FuzzTails(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-23T14:20:00.000Z","host":"lab1","id":"e","status":412,"error":"x","commit":""}`+"\n"),
		[]byte(`{"id":"e","host":"lab1","sha256":"`+strings.Repeat("a", 64)+`","bytes":1,"received_at":"2026-11-23T12:00:00Z","source":"receiver"}`+"\n"))
	f.Add([]byte("\n\n{"), []byte("{}\n[]\n\"x\"\n"))
	f.Fuzz(func(t *testing.T, attempts, idx []byte) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, AttemptsFile), string(attempts))
		mustWrite(t, filepath.Join(dir, IndexFile), string(idx))
		found, err := evaluate(Options{DataDir: dir, Config: defaults(), Now: now})
		if err != nil {
			t.Fatalf("evaluate: %v", err)
		}
		for _, f := range found {
			if !wire.ValidHost(f.host) {
				t.Errorf("finding for invalid host %q", f.host)
			}
		}
	})
}

func newTextLogger(w *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// FuzzFastFields checks the byte-search readers against rows written by
// encoding/json: every field reads as encoding/json reads it, and only lines with
// escapes or braces inside strings fall back to encoding/json.
func FuzzFastFields(f *testing.F) {
	f.Add("2026-11-23T14:20:00.000Z", "lab1", "ep-1", 412, "commit-not-in-window", "", "receiver")
	f.Add("t", "ghost\"", "id\":", -3, "", "0123", "backfill")
	f.Fuzz(func(t *testing.T, ts, host, id string, status int, code, commit, source string) {
		a := attempt{TS: ts, Host: host, ID: id, Status: status, Error: code, Commit: commit}
		line, _ := json.Marshal(a)
		var want attempt
		json.Unmarshal(line, &want) // invalid UTF-8 comes back replaced
		got, ok := parseAttemptFast(line)
		if ok && got != want {
			t.Errorf("attempt %s: fast read %+v", line, got)
		}
		if !ok && !bytes.ContainsAny(line, "\\") && bytes.Count(line, []byte("{")) == 1 {
			t.Errorf("attempt %s: fast path refused a line without escapes", line)
		}
		r := indexFields{Host: host, ReceivedAt: ts, Source: source}
		line, _ = json.Marshal(struct {
			ID string `json:"id"`
			indexFields
			Commit string `json:"commit"`
		}{id, r, commit})
		var wantR indexFields
		json.Unmarshal(line, &wantR)
		gotR, ok := parseIndexFast(line)
		if ok && gotR != wantR {
			t.Errorf("index %s: fast read %+v", line, gotR)
		}
		if !ok && !bytes.ContainsAny(line, "\\") && bytes.Count(line, []byte("{")) == 1 {
			t.Errorf("index %s: fast path refused a line without escapes", line)
		}
	})
}
