package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"cis490/internal/testutil"
	"cis490/internal/wire"
)

// TestMain lets the test binary run as cis490-shipper for the crash test.
func TestMain(m *testing.M) {
	if os.Getenv("CIS490_SHIPPER_CHILD") == "1" {
		if at := os.Getenv("CIS490_UPDATE_KILL_AT"); at != "" {
			updateHook = func(step string) {
				if step == at {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if receiverBin != "" {
		os.RemoveAll(filepath.Dir(receiverBin))
	}
	os.Exit(code)
}

// fakeReceiver stores by id and sha like the real one (SPEC §4.2-4.3):
// duplicates get 200, other bodies 409. script overrides the next PUT
// answers; onRequest runs first on every request (the crash test kills
// there).
type fakeReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	stored    map[string]string
	stores    map[string]int // 201s per id
	conflicts int
	script    []int
	health    []string
	onRequest func(r *http.Request) (abort bool)
}

func newFakeReceiver(tb testing.TB) *fakeReceiver {
	f := &fakeReceiver{stored: map[string]string{}, stores: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if hook := f.hook(); hook != nil && hook(r) {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			c.Close()
		}
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == wire.PingPath:
		if len(f.script) > 0 {
			st := f.script[0]
			f.script = f.script[1:]
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"error":"unauthorized","detail":"status %d"}`, st)
			return
		}
		fmt.Fprintf(w, `{"status":"ok","host":%q,"version":"test"}`, r.Header.Get(wire.HeaderHost))
		return
	case strings.HasPrefix(r.URL.Path, wire.HostHealthPrefix):
		b, _ := io.ReadAll(r.Body)
		if len(f.script) > 0 {
			st := f.script[0]
			f.script = f.script[1:]
			w.WriteHeader(st)
			io.WriteString(w, `{"error":"host-mismatch","detail":"no"}`)
			return
		}
		f.health = append(f.health, r.URL.Path+" "+string(b))
		io.WriteString(w, `{"status":"stored"}`)
		return
	}
	id, _ := wire.EpisodeFromPath(strings.TrimPrefix(r.URL.Path, wire.EpisodesPrefix))
	if r.Method == http.MethodHead {
		if sha, ok := f.stored[id]; ok {
			w.Header().Set(wire.HeaderSHA256, sha)
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(404)
		return
	}
	if len(f.script) > 0 {
		st := f.script[0]
		f.script = f.script[1:]
		w.WriteHeader(st)
		fmt.Fprintf(w, `{"error":"scripted","detail":"status %d","remediation":"fix it"}`, st)
		return
	}
	want := r.Header.Get(wire.HeaderSHA256)
	if old, ok := f.stored[id]; ok {
		if old == want {
			fmt.Fprintf(w, `{"status":"duplicate","id":%q,"sha256":%q}`, id, old)
			return
		}
		f.conflicts++
		w.WriteHeader(409)
		io.WriteString(w, `{"error":"conflict","detail":"other sha256"}`)
		return
	}
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil || hex.EncodeToString(h.Sum(nil)) != want {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"sha-mismatch","detail":"body"}`)
		return
	}
	f.stored[id] = want
	f.stores[id]++
	w.WriteHeader(201)
	fmt.Fprintf(w, `{"status":"stored","id":%q,"sha256":%q,"bytes":%d}`, id, want, n)
}

func (f *fakeReceiver) hook() func(*http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.onRequest
}

// mustConfig writes a lab-host.toml for dataDir and url; extra lines go
// into [shipper].
func mustConfig(tb testing.TB, dataDir, url string, extra ...string) string {
	tb.Helper()
	body := fmt.Sprintf("host_id = \"lab1\"\n[paths]\ndata_dir = %q\n[receiver]\nurl = %q\ntimeout_s = 30\n[shipper]\n%s\n",
		dataDir, url, strings.Join(extra, "\n"))
	p := filepath.Join(tb.TempDir(), "lab-host.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func runCLI(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// mustOneJSON decodes stdout as exactly one JSON object and returns its
// keys, sorted, and the object.
func mustOneJSON(tb testing.TB, stdout string) (string, map[string]any) {
	tb.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		tb.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	if dec.More() {
		tb.Fatalf("stdout holds more than one document:\n%s", stdout)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ","), m
}

func TestOnce(t *testing.T) {
	tests := []struct {
		name     string
		script   []int
		wantCode int
		want     map[string]float64
	}{
		{"all shipped exits 0", nil, 0, map[string]float64{"shipped": 2}},
		{"quarantine exits 3", []int{412}, 3, map[string]float64{"shipped": 1, "quarantined": 1}},
		{"transient exits 1", []int{503}, 1, map[string]float64{"transient": 1, "pending": 2}},
		{"401 exits 1", []int{401}, 1, map[string]float64{"transient": 1, "pending": 2}},
		{"quarantine wins over transient", []int{412, 503}, 3, map[string]float64{"quarantined": 1, "transient": 1, "pending": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeReceiver(t)
			f.script = tt.script
			dataDir := t.TempDir()
			mustEpisode(t, filepath.Join(dataDir, "episodes"), "ep-1")
			mustEpisode(t, filepath.Join(dataDir, "episodes"), "ep-2")
			cfg := mustConfig(t, dataDir, f.URL)
			code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, stderr)
			}
			keys, m := mustOneJSON(t, stdout)
			if keys != "duplicates,pending,quarantined,shipped,transient" {
				t.Errorf("keys = %s", keys)
			}
			for _, k := range []string{"shipped", "duplicates", "quarantined", "transient", "pending"} {
				if m[k] != tt.want[k] {
					t.Errorf("%s = %v, want %v", k, m[k], tt.want[k])
				}
			}
		})
	}
}

func TestLockRefusal(t *testing.T) {
	f := newFakeReceiver(t)
	dataDir := t.TempDir()
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cfg := mustConfig(t, dataDir, f.URL)
	t.Run("once", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
		if code != 2 || !strings.Contains(stderr, "another cis490-shipper is running") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		if _, m := mustOneJSON(t, stdout); m["error"] != "locked" {
			t.Errorf("json = %v", m)
		}
	})
	t.Run("daemon", func(t *testing.T) {
		if code, _, _ := runCLI(t, "--config", cfg); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
	t.Run("status runs beside it", func(t *testing.T) {
		if code, _, stderr := runCLI(t, "status", "--config", cfg); code != 0 {
			t.Errorf("exit %d: %s", code, stderr)
		}
	})
}

func TestConfigAndUsageErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[shipper]\nno_such_key = 1\n"), 0o644)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown key", []string{"--once", "--json", "--config", bad}, "config"},
		{"missing explicit config", []string{"status", "--json", "--config", bad + ".nope"}, "config"},
		{"unknown flag", []string{"status", "--json", "--bogus"}, "usage"},
		{"positional argument", []string{"status", "--json", "extra"}, "usage"},
		{"unknown command", []string{"frobnicate", "--json"}, "usage"},
		{"bad commit", []string{"--ping", "--json", "--commit", "xyz", "--config", bad}, "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, _ := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if _, m := mustOneJSON(t, stdout); m["error"] != tt.wantErr || m["detail"] == "" {
				t.Errorf("json = %v, want error %q", m, tt.wantErr)
			}
		})
	}
	t.Run("config error names file and key", func(t *testing.T) {
		_, _, stderr := runCLI(t, "status", "--config", bad)
		if !strings.Contains(stderr, bad) || !strings.Contains(stderr, "no_such_key") {
			t.Errorf("stderr = %q", stderr)
		}
	})
}

func TestStatusCommand(t *testing.T) {
	dataDir := t.TempDir()
	mustEpisode(t, filepath.Join(dataDir, "episodes"), "ep-1")
	os.MkdirAll(filepath.Join(dataDir, "shipped", "old"), 0o755)
	cfg := mustConfig(t, dataDir, "http://127.0.0.1:1")
	code, stdout, _ := runCLI(t, "status", "--json", "--config", cfg)
	keys, m := mustOneJSON(t, stdout)
	if code != 0 || keys != "oldest_pending_age_s,outbox,pending,quarantined,shipped" {
		t.Fatalf("exit %d, keys %s", code, keys)
	}
	if m["pending"] != 1.0 || m["shipped"] != 1.0 || m["oldest_pending_age_s"].(float64) < 3000 {
		t.Errorf("status = %v", m)
	}
}

func TestUnstampedCommand(t *testing.T) {
	dataDir := t.TempDir()
	eps := filepath.Join(dataDir, "episodes")
	mustEpisode(t, eps, "good")
	mustEpisode(t, eps, "old")
	os.WriteFile(filepath.Join(eps, "old", "meta.json"), []byte(`{"code_version":{}}`), 0o644)
	cfg := mustConfig(t, dataDir, "http://127.0.0.1:1")
	for _, args := range [][]string{{"--dry-run"}, {}} {
		code, stdout, _ := runCLI(t, append([]string{"quarantine-unstamped", "--json", "--config", cfg}, args...)...)
		keys, m := mustOneJSON(t, stdout)
		if code != 0 || keys != "dry_run,kept,moved,quarantined" {
			t.Fatalf("exit %d keys %s", code, keys)
		}
		moved, _ := json.Marshal(m["moved"])
		if m["kept"] != 1.0 || m["quarantined"] != 1.0 || string(moved) != `[{"id":"old","reason":"unstamped"}]` {
			t.Errorf("%v: %v", args, m)
		}
	}
	if !exists(filepath.Join(dataDir, "quarantine", "old")) {
		t.Error("not moved")
	}
	_, stdout, _ := runCLI(t, "quarantine-unstamped", "--json", "--config", cfg)
	if _, m := mustOneJSON(t, stdout); m["quarantined"] != 0.0 {
		t.Errorf("second run: %v", m)
	}
}

func TestPingCommand(t *testing.T) {
	f := newFakeReceiver(t)
	cfg := mustConfig(t, t.TempDir(), f.URL)
	t.Run("ok", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "--ping", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 0 || m["status"] != "ok" || m["host"] != "lab1" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("refused", func(t *testing.T) {
		f.mu.Lock()
		f.script = []int{401}
		f.mu.Unlock()
		code, stdout, _ := runCLI(t, "--ping", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 1 || m["error"] != "unauthorized" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		code, stdout, _ := runCLI(t, "--ping", "--json", "--config", mustConfig(t, t.TempDir(), srv.URL))
		if _, m := mustOneJSON(t, stdout); code != 1 || m["error"] != "network" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
}

func TestShipHealth(t *testing.T) {
	f := newFakeReceiver(t)
	bin := t.TempDir()
	doctor := filepath.Join(bin, "cis490-doctor")
	os.WriteFile(doctor, []byte("#!/bin/sh\n[ \"$1\" = --json ] || exit 9\necho '{\"overall\":\"fail\"}'\nexit 2\n"), 0o755)
	cfg := mustConfig(t, t.TempDir(), f.URL)

	t.Setenv("PATH", bin)
	t.Run("stored whatever the doctor's exit", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "ship-health", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 0 || m["status"] != "stored" || m["doctor_exit"] != 2.0 {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
		if got := strings.Join(f.health, "|"); got != `/v1/host-health/lab1 {"overall":"fail"}` {
			t.Errorf("receiver got %q", got)
		}
	})
	t.Run("refused exits 1", func(t *testing.T) {
		f.mu.Lock()
		f.script = []int{403}
		f.mu.Unlock()
		code, stdout, _ := runCLI(t, "ship-health", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 1 || m["error"] != "host-mismatch" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
	t.Run("no doctor exits 1", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		code, stdout, _ := runCLI(t, "ship-health", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 1 || m["error"] != "doctor-not-found" {
			t.Errorf("exit %d, %v", code, m)
		}
	})
}

// TestDaemonStartStopTwice runs the daemon in-process twice on one data dir:
// the lock and the notify socket are released on every stop.
func TestDaemonStartStopTwice(t *testing.T) {
	f := newFakeReceiver(t)
	dataDir := t.TempDir()
	cfg := mustConfig(t, dataDir, f.URL)
	sock := testutil.ListenNotify(t, false)
	t.Setenv("NOTIFY_SOCKET", sock.Name)
	for i := 0; i < 2; i++ {
		id := fmt.Sprintf("ep-%d", i)
		mustEpisode(t, filepath.Join(dataDir, "episodes"), id)
		ctx, cancel := context.WithCancel(context.Background())
		codec := make(chan int)
		go func() {
			codec <- run(ctx, []string{"--config", cfg}, strings.NewReader(""), io.Discard, io.Discard)
		}()
		if got := sock.Next(t); got != "READY=1" {
			t.Fatalf("run %d: %q", i, got)
		}
		if got := sock.Next(t); !strings.HasPrefix(got, "STATUS=pending 0, shipped 1") {
			t.Fatalf("run %d: %q", i, got)
		}
		cancel()
		if got := sock.Next(t); got != "STOPPING=1" {
			t.Fatalf("run %d: %q", i, got)
		}
		if code := <-codec; code != 0 {
			t.Fatalf("run %d exit %d", i, code)
		}
		if !exists(filepath.Join(dataDir, "shipped", id)) {
			t.Errorf("run %d did not ship %s", i, id)
		}
	}
}
