package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
)

var checkNames = []string{"config", "certificates", "token", "receiver", "queue", "disk", "service", "clock", "shipper-errors", "update"}

func (s *scratch) doctor(color bool, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runEnv(context.Background(), args, &out, &errb, s.env, color)
	return code, out.String(), errb.String()
}

// decodeReport decodes --json output strictly against the documented shape.
func decodeReport(tb testing.TB, stdout string) Report {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var rep Report
	if err := dec.Decode(&rep); err != nil {
		tb.Fatalf("stdout %q: %v", stdout, err)
	}
	if dec.More() {
		tb.Fatalf("stdout holds more than one JSON document: %q", stdout)
	}
	return rep
}

func TestJSONShape(t *testing.T) {
	s := newScratch(t)
	code, stdout, stderr := s.doctor(false, "--json")
	if code != 0 {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, stdout, stderr)
	}
	rep := decodeReport(t, stdout)
	if rep.Schema != 1 || rep.Host != "lab1" || rep.GeneratedAt != wire.FormatTime(now) || rep.Version == "" || rep.Overall != OK {
		t.Errorf("report header = %+v", rep)
	}
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Check)
		if !slices.Contains([]Status{OK, Warn, Fail, Skip}, c.Status) || c.Summary == "" {
			t.Errorf("check %+v: bad status or empty summary", c)
		}
	}
	if !slices.Equal(names, checkNames) {
		t.Errorf("checks = %q, want %q", names, checkNames)
	}
	// Every key of the documented shape is present, fix included when empty.
	var raw map[string]any
	json.Unmarshal([]byte(stdout), &raw)
	for _, k := range []string{"schema", "host", "generated_at", "version", "overall", "checks"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	first := raw["checks"].([]any)[0].(map[string]any)
	for _, k := range []string{"check", "status", "summary", "fix"} {
		if _, ok := first[k]; !ok {
			t.Errorf("check lacks %q", k)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(s *scratch)
		args        []string
		wantCode    int
		wantOverall Status
	}{
		{"all ok", func(*scratch) {}, nil, 0, OK},
		{"skips count as ok", func(s *scratch) { os.Remove(s.path("bin/systemctl")) }, nil, 0, OK},
		{"a warning", func(s *scratch) { s.write("etc/token", "secret\n", 0o644) }, nil, 1, Warn},
		{"a failure beats a warning", func(s *scratch) {
			s.write("etc/token", "secret\n", 0o644)
			s.env.FreeBytes = func(string) (uint64, error) { return 1, nil }
		}, nil, 2, Fail},
		{"--data-dir overrides the config", func(*scratch) {}, []string{"--data-dir", "/nonexistent/cis490"}, 2, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			tt.setup(s)
			code, stdout, _ := s.doctor(false, append([]string{"--json"}, tt.args...)...)
			if rep := decodeReport(t, stdout); code != tt.wantCode || rep.Overall != tt.wantOverall {
				t.Errorf("exit %d overall %s, want %d %s: %s", code, rep.Overall, tt.wantCode, tt.wantOverall, stdout)
			}
		})
	}
}

func TestBrokenConfigStillReports(t *testing.T) {
	s := newScratch(t)
	s.env.LoadConfig = func(string) (config.LabHost, string, error) {
		return config.LabHost{}, "/etc/cis490/lab-host.toml", &config.Error{File: "/etc/cis490/lab-host.toml", Line: 2, Col: 1, Key: "bogus", Msg: "unknown key"}
	}
	code, stdout, _ := s.doctor(false, "--json")
	rep := decodeReport(t, stdout)
	if code != 2 || len(rep.Checks) != len(checkNames) {
		t.Fatalf("exit %d with %d checks, want 2 with all of them", code, len(rep.Checks))
	}
	wantResult(t, rep.Checks[0], Fail, `lab-host.toml:2:1: key "bogus"`, "sudoedit /etc/cis490/lab-host.toml")
	for _, c := range rep.Checks[1:6] {
		if c.Status != Skip {
			t.Errorf("%s = %s, want skip without a config", c.Check, c.Status)
		}
	}
	// Checks that need no config still run.
	if c := rep.Checks[8]; c.Status != OK {
		t.Errorf("shipper-errors = %+v, want ok", c)
	}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"version", []string{"--version"}, 0, "cis490-doctor dev"},
		{"help", []string{"--help"}, 0, "usage: cis490-doctor"},
		{"bad --since", []string{"--since", "ten minutes", "--json"}, 2, `"error":"usage"`},
		{"negative --since", []string{"--since", "-5m"}, 2, ""},
		{"unknown flag", []string{"--bogus"}, 2, ""},
		{"positional argument", []string{"extra"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			code, stdout, _ := s.doctor(false, tt.args...)
			if code != tt.wantCode || !strings.Contains(stdout, tt.wantOut) {
				t.Errorf("exit %d, stdout %q; want %d and %q", code, stdout, tt.wantCode, tt.wantOut)
			}
		})
	}
}

func TestHumanOutput(t *testing.T) {
	tests := []struct {
		name      string
		color     bool
		wantColor bool
	}{
		{"plain when not a terminal", false, false},
		{"coloured on a terminal", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScratch(t)
			s.write("etc/token", "secret\n", 0o644)
			code, stdout, _ := s.doctor(tt.color)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if got := strings.Contains(stdout, "\x1b["); got != tt.wantColor {
				t.Errorf("ANSI codes present = %v, want %v:\n%s", got, tt.wantColor, stdout)
			}
			lines := strings.Split(stdout, "\n")
			col := -1
			for _, name := range checkNames {
				i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, "  "+name+"  ") })
				if i < 0 {
					t.Fatalf("no line for %s:\n%s", name, stdout)
				}
				// Aligned: every summary starts in the same column.
				rest := lines[i][strings.Index(lines[i], name)+len(name):]
				c := strings.Index(lines[i], name) + len(name) + len(rest) - len(strings.TrimLeft(rest, " "))
				if col >= 0 && c != col {
					t.Errorf("summary of %s starts at column %d, others at %d", name, c, col)
				}
				col = c
			}
			if !strings.Contains(stdout, "to fix:\n  token:\n    sudo chmod 600 ") {
				t.Errorf("fix section missing:\n%s", stdout)
			}
		})
	}
}

// snapshot lists every path under root with its size, mode and mtime.
func snapshot(tb testing.TB, root string) []string {
	tb.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+info.Mode().String()+" "+info.ModTime().String()+" "+strconv.FormatInt(info.Size(), 10))
		return nil
	})
	return out
}

func TestNeverWrites(t *testing.T) {
	s := newScratch(t)
	s.write("data/episodes/ep-1/meta.json", "{}", 0o644)
	s.write("data/quarantine/ep-2/quarantine_reason.json", `{"at":"`+wire.FormatTime(now)+`"}`, 0o644)
	before := snapshot(t, s.root)
	s.doctor(false, "--json")
	s.doctor(false)
	if after := snapshot(t, s.root); !slices.Equal(before, after) {
		t.Errorf("the doctor changed the host:\nbefore %q\nafter  %q", before, after)
	}
}

// blockingCheck runs until its test releases it.
type blockingCheck struct{ release chan struct{} }

func (blockingCheck) Name() string { return "slow" }
func (b blockingCheck) Run(ctx context.Context) Result {
	<-b.release
	return result(OK, "", "finished")
}

func TestRunChecksDeadline(t *testing.T) {
	b := blockingCheck{release: make(chan struct{})}
	defer close(b.release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := newScratch(t)
	rs := runChecks(ctx, []Check{b, configCheck{s.host()}})
	if rs[0].Check != "slow" || rs[0].Status != Fail || rs[0].Summary != "did not finish in time" {
		t.Errorf("unfinished check = %+v, want fail", rs[0])
	}
	if rs[1].Check != "config" {
		t.Errorf("second result = %+v, want the config check named", rs[1])
	}
}

func TestOverall(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
	}{
		{"empty", nil, OK},
		{"skip is ok", []Status{Skip, OK}, OK},
		{"warn", []Status{OK, Warn, Skip}, Warn},
		{"fail", []Status{Warn, Fail, OK}, Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs []Result
			for _, st := range tt.in {
				rs = append(rs, Result{Status: st})
			}
			if got := overall(rs); got != tt.want {
				t.Errorf("overall(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestAge(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{{30 * time.Second, "30s"}, {10 * time.Minute, "10m"}, {2 * time.Hour, "2h"}, {72 * time.Hour, "3d"}} {
		t.Run(tt.want, func(t *testing.T) {
			if got := age(tt.d); got != tt.want {
				t.Errorf("age(%v) = %q", tt.d, got)
			}
		})
	}
}
