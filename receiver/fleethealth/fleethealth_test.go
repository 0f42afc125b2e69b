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
	"cis490/receiver/datadir"
	"cis490/receiver/replicalog"
)

var now = time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)

const commit = "0123456789abcdef0123456789abcdef01234567"

func ts(d time.Duration) string { return wire.FormatTime(now.Add(-d)) }

func stored(host string, ago time.Duration) index.Row {
	return index.Row{ID: "ep-" + host, Host: host, SHA256: strings.Repeat("a", 64), Bytes: 1,
		ReceivedAt: ts(ago), Commit: commit, Source: index.SourceReceiver}
}

func tried(host string, ago time.Duration, status int, code string) index.Attempt {
	return index.Attempt{TS: ts(ago), Host: host, ID: "ep-1", Status: status, Error: code, Commit: commit}
}

func unstampedTry(host string, ago time.Duration, status int) index.Attempt {
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
	mustWrite(tb, filepath.Join(dir, datadir.HostHealthDir, host+".json"),
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
		attempts []index.Attempt
		health   map[string]time.Duration // host → report age
		want     []string
	}{
		{
			name:  "quiet 31 min after storing is silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []index.Attempt{tried("lab1", 31*time.Minute, 201, "")},
			want: []string{"lab1 silent"},
		},
		{
			name:  "quiet 29 min is not silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []index.Attempt{tried("lab1", 29*time.Minute, 201, "")},
		},
		{
			name:  "quiet exactly silent_after_s is not silent",
			index: []index.Row{stored("lab1", 2*time.Hour)}, attempts: []index.Attempt{tried("lab1", 30*time.Minute, 201, "")},
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
			attempts: []index.Attempt{
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "three refusals are fatal-only",
			attempts: []index.Attempt{
				tried("lab2", 30*time.Minute, 400, "missing-commit"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "one 2xx among refusals clears fatal-only",
			attempts: []index.Attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 200, ""),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "a 5xx among refusals clears fatal-only",
			attempts: []index.Attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 503, "busy"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name: "aborted attempts neither count nor clear",
			attempts: []index.Attempt{
				tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 30*time.Minute, 0, "aborted"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "aborted attempts alone are not fatal-only",
			attempts: []index.Attempt{
				tried("lab2", 30*time.Minute, 0, "aborted"),
				tried("lab2", 20*time.Minute, 0, "aborted"),
				tried("lab2", 10*time.Minute, 0, "aborted"),
			},
		},
		{
			name: "refusals older than fatal_window_s do not count",
			attempts: []index.Attempt{
				tried("lab2", 70*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 20*time.Minute, 412, "commit-not-in-window"),
				tried("lab2", 10*time.Minute, 412, "commit-not-in-window"),
			},
		},
		{
			name:     "attempt without commit is unstamped",
			attempts: []index.Attempt{unstampedTry("lab3", 10*time.Minute, 201)},
			want:     []string{"lab3 unstamped"},
		},
		{
			name:     "unstamped attempt older than fatal_window_s is forgotten",
			attempts: []index.Attempt{unstampedTry("lab3", 61*time.Minute, 201), tried("lab3", time.Minute, 201, "")},
		},
		{
			name:     "attempts from invalid host headers are not attributed",
			attempts: []index.Attempt{unstampedTry("", 10*time.Minute, 400), unstampedTry("bad host", 9*time.Minute, 400)},
		},
		{
			name: "expected host with nothing at all is silent and stale",
			cfg:  expectLab9,
			want: []string{"lab9 silent", "lab9 stale-health"},
		},
		{
			name:     "expected host that reports and uploads is fine",
			cfg:      expectLab9,
			attempts: []index.Attempt{tried("lab9", time.Minute, 201, "")},
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
			attempts: []index.Attempt{tried("lab5", time.Minute, 201, "")},
		},
		{
			name:  "rows after now are ignored",
			index: []index.Row{stored("lab1", 2*time.Hour)},
			attempts: []index.Attempt{
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
			attempts: []index.Attempt{
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
			mustWriteRows(t, dir, datadir.IndexFile, tt.index...)
			mustWriteRows(t, dir, datadir.AttemptsFile, tt.attempts...)
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
				mustWriteRows(t, dir, datadir.IndexFile, stored("lab1", 2*time.Hour))
				b, _ := json.Marshal(tried("lab1", time.Minute, 201, ""))
				mustWrite(t, filepath.Join(dir, datadir.AttemptsFile), string(b)) // no newline: torn
			},
			want: []string{"lab1 silent"},
		},
		{
			name: "torn last index line is skipped",
			setup: func(t *testing.T, dir string) {
				b, _ := json.Marshal(stored("lab1", 2*time.Hour))
				mustWrite(t, filepath.Join(dir, datadir.IndexFile), string(b))
			},
		},
		{
			name: "malformed lines are skipped",
			setup: func(t *testing.T, dir string) {
				mustWrite(t, filepath.Join(dir, datadir.IndexFile), "not json\n{\"id\":\"x\"}\n")
				mustWrite(t, filepath.Join(dir, datadir.AttemptsFile), "{]\n")
			},
		},
		{
			name: "rotated attempts file is read when the current one is short",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, datadir.AttemptsRotated,
					tried("lab2", 40*time.Minute, 412, "commit-not-in-window"),
					tried("lab2", 30*time.Minute, 412, "commit-not-in-window"))
				mustWriteRows(t, dir, datadir.AttemptsFile, tried("lab2", 10*time.Minute, 412, "commit-not-in-window"))
			},
			want: []string{"lab2 fatal-only"},
		},
		{
			name: "rotated attempts file is not needed when the current one reaches back",
			setup: func(t *testing.T, dir string) {
				// An unstamped attempt in .1 would be visible if .1 were read.
				mustWriteRows(t, dir, datadir.AttemptsRotated, unstampedTry("lab3", 20*time.Minute, 201))
				mustWriteRows(t, dir, datadir.AttemptsFile,
					tried("lab3", 3*time.Hour, 201, ""), tried("lab3", time.Minute, 201, ""))
			},
		},
		{
			name: "index read stops at the first row older than the window and slack",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, datadir.IndexFile, stored("lab1", time.Hour), stored("lab2", 30*24*time.Hour))
			},
		},
		{
			name: "index rows out of order within the slack are still read",
			setup: func(t *testing.T, dir string) {
				mustWriteRows(t, dir, datadir.IndexFile, stored("lab1", time.Hour), stored("lab2", 24*time.Hour+2*time.Minute))
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
		mustWrite(t, filepath.Join(dir, datadir.AttemptsFile), string(attempts))
		mustWrite(t, filepath.Join(dir, datadir.IndexFile), string(idx))
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

func TestReplicaLag(t *testing.T) {
	tests := []struct {
		name        string
		replicating bool
		status      *replicalog.Status
		want        string
	}{
		{"no status file", true, nil, ""},
		{"nothing pending", true, &replicalog.Status{Replicated: 5}, ""},
		{"young backlog", true, &replicalog.Status{Pending: 2, OldestPendingAt: wire.FormatTime(now.Add(-59 * time.Minute))}, ""},
		{"old backlog", true, &replicalog.Status{Pending: 2, PendingBytes: 10, OldestPendingAt: wire.FormatTime(now.Add(-61 * time.Minute)),
			LastError: &replicalog.Fault{At: "x", Kind: "network", Detail: "connection refused"}}, "receiver replica-lag"},
		{"old backlog without [replica]", false, &replicalog.Status{Pending: 2, OldestPendingAt: wire.FormatTime(now.Add(-61 * time.Minute))}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.status != nil {
				if err := replicalog.WriteStatus(dir, *tt.status); err != nil {
					t.Fatal(err)
				}
			}
			cfg := defaults()
			cfg.ReplicaMaxLagS = 3600
			found, err := evaluate(Options{DataDir: dir, Config: cfg, Now: now, Replicating: tt.replicating})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range found {
				got = append(got, f.host+" "+f.symptom)
				if !strings.Contains(f.detail, "connection refused") || !strings.Contains(f.detail, "2 pending") {
					t.Errorf("detail %q lacks the backlog or the last error", f.detail)
				}
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("findings %v, want %q", got, tt.want)
			}
		})
	}
}
