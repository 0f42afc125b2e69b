package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/queuedir"
	"cis490/internal/testutil"
)

var (
	receiverOnce sync.Once
	receiverBin  string
	receiverErr  error
)

// mustReceiverBinary builds the real cis490-receiver once per test run.
func mustReceiverBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real receiver")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not on PATH")
	}
	receiverOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cis490-e2e-")
		if err != nil {
			receiverErr = err
			return
		}
		receiverBin = filepath.Join(dir, "cis490-receiver")
		out, err := exec.Command(goBin, "build", "-o", receiverBin, "cis490/receiver").CombinedOutput()
		if err != nil {
			receiverErr = fmt.Errorf("go build cis490/receiver: %v\n%s", err, out)
		}
	})
	if receiverErr != nil {
		t.Fatal(receiverErr)
	}
	return receiverBin
}

// gitRepo makes a repository with n empty commits and returns its path and
// the commits, newest first.
func gitRepo(t *testing.T, n int) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	var commits []string
	for i := 0; i < n; i++ {
		git("commit", "-q", "--allow-empty", "-m", "c")
		commits = append([]string{git("rev-parse", "HEAD")}, commits...)
	}
	return dir, commits
}

// realReceiver is a running cis490-receiver on a loopback port.
type realReceiver struct {
	url     string
	dataDir string
	bin     string // the receiver binary
	config  string // its receiver.toml
	stop    func() // SIGTERM and wait for the exit
}

// startRealReceiver starts `cis490-receiver serve` with a token and the
// version gate on repo (window 2), on a port the kernel picks; the address
// comes from the STATUS that follows READY=1.
func startRealReceiver(t *testing.T, token, repo string) *realReceiver {
	t.Helper()
	return startRealReceiverWith(t, token, repo, "http", "")
}

// startRealReceiverWith is startRealReceiver with extra receiver.toml text
// (a [tls] table) and the URL scheme to use.
func startRealReceiverWith(t *testing.T, token, repo, scheme, extra string) *realReceiver {
	t.Helper()
	bin := mustReceiverBinary(t)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(token+"\n"), 0o600)
	cfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[auth]\ntoken_file = %q\n[version_gate]\nrepo_path = %q\nwindow = 2\n%s", tokFile, repo, extra)), 0o644)
	data := filepath.Join(dir, "data")
	addr, stderr, stop := startGatedReceiver(t, bin, "serve", "--config", cfg, "--data-dir", data, "--listen", "127.0.0.1:0")
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("receiver stderr:\n%s", stderr.String())
		}
	})
	return &realReceiver{url: scheme + "://" + addr, dataDir: data, bin: bin, config: cfg, stop: stop}
}

// startGatedReceiver starts the receiver binary (argv) and returns once it
// sent READY=1, whose STATUS names the address, and logged its first gate
// refresh: until then every gated answer is 503 gate-unavailable, by
// design. stop sends SIGTERM and waits for the exit and the last log line.
func startGatedReceiver(t *testing.T, argv ...string) (addr string, stderr *syncLines, stop func()) {
	t.Helper()
	pr, pw := io.Pipe()
	p, err := testutil.Start("receiver", nil, nil, pw, argv...)
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-p.Done(); pw.Close() }()
	stderr = &syncLines{}
	gateLoaded, stderrDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		loaded := false
		for sc.Scan() {
			stderr.add(sc.Text())
			if !loaded && strings.Contains(sc.Text(), `msg="version gate refreshed"`) {
				loaded = true
				close(gateLoaded)
			}
		}
	}()
	var stopOnce sync.Once
	stop = func() {
		stopOnce.Do(func() {
			p.Stop(15 * time.Second)
			<-stderrDone
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, err := p.WaitReady(ctx)
	if err != nil {
		stop()
		t.Fatalf("%v\n%s", err, stderr)
	}
	addr, _ = strings.CutPrefix(status, "listening on ")
	select {
	case <-gateLoaded:
	case <-stderrDone:
		t.Fatalf("receiver exited before loading the gate:\n%s", stderr)
	}
	return addr, stderr, stop
}

// syncLines collects lines from a reader goroutine.
type syncLines struct {
	mu    sync.Mutex
	lines []string
}

func (s *syncLines) add(l string) {
	s.mu.Lock()
	s.lines = append(s.lines, l)
	s.mu.Unlock()
}

func (s *syncLines) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

func TestEndToEndWithRealReceiver(t *testing.T) {
	repo, commits := gitRepo(t, 3)
	head, outOfWindow := commits[0], commits[2]
	recv := startRealReceiver(t, "s3cret-token", repo)

	dataDir := t.TempDir()
	eps := filepath.Join(dataDir, "episodes")
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("s3cret-token\n"), 0o600)
	cfg := mustConfig(t, dataDir, recv.url)
	appendConfig(t, cfg, "[receiver]", fmt.Sprintf("token_file = %q", tokFile))

	t.Run("ping asks the gate", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "--ping", "--json", "--commit", head, "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 0 || m["status"] != "ok" || m["gate"] != "pass" {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
	})

	t.Run("once ships, and quarantines what the gate refuses", func(t *testing.T) {
		mustEpisodeMeta(t, eps, "ep-good", `{"code_version":{"commit":"`+strings.ToUpper(head)+`"},"schema_version":"3"}`)
		mustEpisodeMeta(t, eps, "ep-old", `{"code_version":{"commit":"`+outOfWindow+`"}}`)
		mustEpisodeMeta(t, eps, "ep-unstamped", `{"code_version":{}}`)
		code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
		_, m := mustOneJSON(t, stdout)
		if code != 3 || m["shipped"] != 1.0 || m["quarantined"] != 2.0 || m["pending"] != 0.0 {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
		for id, want := range map[string]string{"ep-old": "commit-not-in-window", "ep-unstamped": "missing-commit"} {
			var r queuedir.Reason
			b, _ := os.ReadFile(filepath.Join(dataDir, "quarantine", id, queuedir.ReasonFile))
			if err := json.Unmarshal(b, &r); err != nil || r.Error != want || r.Remediation == "" || r.Receiver != recv.url {
				t.Errorf("%s reason = %+v (%v)", id, r, err)
			}
		}
		if !strings.Contains(stderr, `msg="ship rejected" id=ep-old status=412 error=commit-not-in-window`) {
			t.Errorf("stderr lacks the 412 line:\n%s", stderr)
		}
		index, _ := os.ReadFile(filepath.Join(recv.dataDir, "index.jsonl"))
		if !strings.Contains(string(index), `"id":"ep-good"`) || !strings.Contains(string(index), head) {
			t.Errorf("index.jsonl = %s", index)
		}
	})

	t.Run("a re-sent episode is a duplicate, never a conflict", func(t *testing.T) {
		// The shipper crashed after the 2xx, before retiring: the episode is
		// back in episodes/ and packs to the same bytes.
		mustEpisodeMeta(t, eps, "ep-good", `{"code_version":{"commit":"`+strings.ToUpper(head)+`"},"schema_version":"3"}`)
		code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 0 || m["duplicates"] != 1.0 {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
	})

	t.Run("wrong token keeps the episode", func(t *testing.T) {
		os.WriteFile(tokFile, []byte("wrong\n"), 0o600)
		defer os.WriteFile(tokFile, []byte("s3cret-token\n"), 0o600)
		mustEpisodeMeta(t, eps, "ep-later", `{"code_version":{"commit":"`+head+`"}}`)
		code, stdout, stderr := runCLI(t, "--once", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 1 || m["transient"] != 1.0 || m["pending"] != 1.0 {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
		if !strings.Contains(stderr, `msg="ship refused: credentials" id=ep-later status=401`) {
			t.Errorf("stderr:\n%s", stderr)
		}
	})

	t.Run("ship-health stores the doctor's report", func(t *testing.T) {
		bin := t.TempDir()
		os.WriteFile(filepath.Join(bin, "cis490-doctor"), []byte("#!/bin/sh\necho '{\"schema\":1,\"overall\":\"warn\"}'\nexit 1\n"), 0o755)
		t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		code, stdout, stderr := runCLI(t, "ship-health", "--json", "--config", cfg)
		if _, m := mustOneJSON(t, stdout); code != 0 || m["status"] != "stored" {
			t.Fatalf("exit %d, %v\n%s", code, m, stderr)
		}
		b, err := os.ReadFile(filepath.Join(recv.dataDir, "host-health", "lab1.json"))
		if err != nil || !strings.Contains(string(b), `"overall":"warn"`) {
			t.Errorf("stored report %s (%v)", b, err)
		}
	})
}

// appendConfig adds lines to a config file, merging into an existing table
// header when it is already there.
func appendConfig(t *testing.T, path, table string, lines ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), table+"\n", table+"\n"+strings.Join(lines, "\n")+"\n", 1)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
