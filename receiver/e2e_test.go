package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/cmdline"
	"cis490/internal/config"
	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/store"
)

// gitRepo makes a repository with n commits and returns its path and the
// commits, newest first.
func gitRepo(t *testing.T, n int) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed; .ci/run installs it")
	}
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		out, err := cmd.CombinedOutput()
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

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// curlPut uploads file with curl under Expect: 100-continue and returns the
// status, the body and how many body bytes curl sent.
func curlPut(t *testing.T, url, file string, headers ...string) (int, map[string]any, int64) {
	t.Helper()
	args := []string{"-sS", "-o", "-", "-w", "\n%{http_code} %{size_upload}", "-T", file,
		"-H", "Expect: 100-continue", "--expect100-timeout", "20"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("curl", append(args, url)...).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	i := bytes.LastIndexByte(out, '\n')
	var code int
	var sent int64
	if _, err := fmtSscan(string(out[i+1:]), &code, &sent); err != nil {
		t.Fatalf("curl output %q: %v", out, err)
	}
	var body map[string]any
	json.Unmarshal(out[:i], &body)
	return code, body, sent
}

func TestCurlEveryRefusalSendsNoBody(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; .ci/run installs it")
	}
	repo, commits := gitRepo(t, 3)
	dir := t.TempDir()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	cfg := writeConfig(t, dir, "max_body_bytes = 1_500_000\nmin_free_bytes = 0\n[auth]\ntoken_file = \""+tok+"\"\n"+
		"[version_gate]\nrepo_path = \""+repo+"\"\nwindow = 2\nremediation = \"run: fix-it\"\n")
	p := startReceiver(t, nil, "--config", cfg)

	big := filepath.Join(t.TempDir(), "big")
	bigBytes := randomBytes(t, 2<<20)
	os.WriteFile(big, bigBytes, 0o600)
	small := filepath.Join(t.TempDir(), "small")
	smallBytes := randomBytes(t, 100_000)
	os.WriteFile(small, smallBytes, 0o600)

	auth, host := "Authorization: Bearer s3cret", "X-Cis490-Host: lab1"
	bigSHA, smallSHA := "X-Content-SHA256: "+sha(bigBytes), "X-Content-SHA256: "+sha(smallBytes)
	good, old := "X-Cis490-Code-Commit: "+commits[1], "X-Cis490-Code-Commit: "+commits[2]
	ep := p.url("/v1/episodes/ep1.tar.zst")

	// Store one episode first, so the duplicate rows can be exercised.
	if code, body, sent := curlPut(t, ep, small, auth, host, smallSHA, good); code != 201 || sent != int64(len(smallBytes)) || body["status"] != "stored" {
		t.Fatalf("store = %d %v sent %d", code, body, sent)
	}
	cases := []struct {
		name    string
		url     string
		file    string
		headers []string
		code    int
		err     string
	}{
		{"no token", p.url("/v1/episodes/ep2.tar.zst"), big, []string{host, bigSHA, good}, 401, "unauthorized"},
		{"bad suffix", p.url("/v1/episodes/ep2.tar"), big, []string{auth, host, bigSHA, good}, 400, "bad-suffix"},
		{"bad id", p.url("/v1/episodes/_ep2.tar.zst"), big, []string{auth, host, bigSHA, good}, 400, "bad-id"},
		{"bad host", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, "X-Cis490-Host: a b", bigSHA, good}, 400, "bad-host"},
		{"bad sha header", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, "X-Content-SHA256: 12", good}, 400, "bad-sha256-header"},
		{"bad schema version", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA, good, "X-Cis490-Schema-Version: a/b"}, 400, "bad-schema-version"},
		{"chunked", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA, good, "Transfer-Encoding: chunked"}, 411, "length-required"},
		{"missing commit", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA}, 400, "missing-commit"},
		{"malformed commit", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA, "X-Cis490-Code-Commit: 1234"}, 400, "malformed-commit"},
		{"out of window", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA, old}, 412, "commit-not-in-window"},
		{"too large", p.url("/v1/episodes/ep2.tar.zst"), big, []string{auth, host, bigSHA, good}, 413, "too-large"},
		{"conflict", ep, big, []string{auth, host, bigSHA, good}, 409, "conflict"},
		{"duplicate with an old commit", ep, small, []string{auth, host, smallSHA, old}, 200, ""},
		{"duplicate with an oversize length", ep, big, []string{auth, host, smallSHA, good}, 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body, sent := curlPut(t, tc.url, tc.file, tc.headers...)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, body)
			}
			if sent != 0 {
				t.Errorf("curl sent %d body bytes, want 0", sent)
			}
			if tc.err != "" && body["error"] != tc.err {
				t.Errorf("error = %v, want %s", body["error"], tc.err)
			}
			if tc.code == 200 && body["status"] != "duplicate" {
				t.Errorf("body = %v", body)
			}
			if tc.code == 412 && (body["remediation"] != "run: fix-it" || body["your_commit"] != commits[2] || body["head_commit"] != commits[0]) {
				t.Errorf("412 body = %v", body)
			}
		})
	}
	var rows []index.Row
	index.ReadFile(filepath.Join(dir, datadir.IndexFile), func(r index.Row) { rows = append(rows, r) })
	if len(rows) != 1 || rows[0].Commit != commits[1] {
		t.Errorf("rows = %+v", rows)
	}
	if left, err := store.TmpLeftovers(dir); err != nil || len(left) != 0 {
		t.Errorf("tmp holds %v (%v)", left, err)
	}
}

func TestCurlDiskFullAndGateUnavailable(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; .ci/run installs it")
	}
	file := filepath.Join(t.TempDir(), "f")
	b := randomBytes(t, 300_000)
	os.WriteFile(file, b, 0o600)
	hdrs := []string{"X-Cis490-Host: lab1", "X-Content-SHA256: " + sha(b), "X-Cis490-Code-Commit: " + strings.Repeat("a", 40)}
	t.Run("507 when space would run low", func(t *testing.T) {
		dir := t.TempDir()
		p := startReceiver(t, nil, "--config", writeConfig(t, dir, "min_free_bytes = 9_000_000_000_000_000_000\n[version_gate]\nenabled = false\n"))
		code, body, sent := curlPut(t, p.url("/v1/episodes/e.tar.zst"), file, hdrs...)
		if code != 507 || body["error"] != "insufficient-storage" || sent != 0 {
			t.Errorf("= %d %v sent %d", code, body, sent)
		}
	})
	t.Run("503 while a configured gate source never answered", func(t *testing.T) {
		dir := t.TempDir()
		p := startReceiver(t, nil, "--config", writeConfig(t, dir, "[version_gate]\nrepo_path = \""+t.TempDir()+"\"\n"))
		code, body, sent := curlPut(t, p.url("/v1/episodes/e.tar.zst"), file, hdrs...)
		if code != 503 || body["error"] != "gate-unavailable" || sent != 0 {
			t.Errorf("= %d %v sent %d", code, body, sent)
		}
	})
}

// uploadStream starts a PUT whose body the test feeds through a pipe. got100
// is closed when the receiver answers 100 Continue: every check passed and
// it is reading the body.
func uploadStream(t *testing.T, url string, length int64, sum string) (w *io.PipeWriter, got100 chan struct{}, result chan error) {
	pr, pw := io.Pipe()
	got100 = make(chan struct{})
	result = make(chan error, 1)
	req, _ := http.NewRequest(http.MethodPut, url, pr)
	req.ContentLength = length
	req.Header.Set("Expect", "100-continue")
	req.Header.Set(wire.HeaderHost, "lab1")
	req.Header.Set(wire.HeaderSHA256, sum)
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(got100) }}
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		result <- err
	}()
	return pw, got100, result
}

func TestKill9DuringLargeUploadLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "min_free_bytes = 0\n[version_gate]\nenabled = false\n")
	p := startReceiver(t, nil, "--config", cfg)
	body := randomBytes(t, 16<<20)
	url := p.url(wire.EpisodeURLPath("big"))
	pw, got100, result := uploadStream(t, url, int64(len(body)), sha(body))
	<-got100
	if _, err := pw.Write(body[:4<<20]); err != nil { // 4 MiB are in the receiver's hands now
		t.Fatal(err)
	}
	p.kill9()
	pw.CloseWithError(io.ErrClosedPipe)
	if err := <-result; err == nil {
		t.Error("the interrupted upload reported success")
	}

	p2 := startReceiver(t, nil, "--config", cfg)
	if left, err := store.TmpLeftovers(dir); err != nil || len(left) != 0 {
		t.Errorf("tmp/ holds %v (%v) after restart", left, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, datadir.IndexFile)); len(b) != 0 {
		t.Errorf("index after restart: %q", b)
	}
	req, _ := http.NewRequest(http.MethodPut, p2.url(wire.EpisodeURLPath("big")), bytes.NewReader(body))
	req.Header.Set(wire.HeaderHost, "lab1")
	req.Header.Set(wire.HeaderSHA256, sha(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Errorf("fresh PUT = %d, want 201", resp.StatusCode)
	}
	if err := p2.stop(); err != nil {
		t.Errorf("SIGTERM exit: %v", err)
	}
}

func TestSIGTERMWaitsForAnUploadInFlight(t *testing.T) {
	dir := t.TempDir()
	p := startReceiver(t, nil, "--config", writeConfig(t, dir, "min_free_bytes = 0\n[version_gate]\nenabled = false\n"))
	body := randomBytes(t, 1<<20)
	pw, got100, result := uploadStream(t, p.url(wire.EpisodeURLPath("inflight")), int64(len(body)), sha(body))
	<-got100
	p.Signal(os.Interrupt)
	p.waitNotify("STOPPING=1")
	pw.Write(body)
	pw.Close()
	if err := <-result; err != nil {
		t.Errorf("upload during drain: %v", err)
	}
	<-p.Done()
	if err := p.Err(); err != nil {
		t.Errorf("exit: %v", err)
	}
	var rows []index.Row
	index.ReadFile(filepath.Join(dir, datadir.IndexFile), func(r index.Row) { rows = append(rows, r) })
	if len(rows) != 1 {
		t.Errorf("rows = %d, want the drained upload's row", len(rows))
	}
}

func TestServeStartsAndStopsTwiceInOneProcess(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultReceiver()
	cfg.Server.DataDir, cfg.Server.Listen, cfg.Server.MinFreeBytes = dir, "127.0.0.1:0", 0
	cfg.VersionGate.Enabled = false
	body := []byte("twice")
	for round := 0; round < 2; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		bound := make(chan netAddr, 1)
		errc := make(chan error, 1)
		go func() { errc <- serve(ctx, cfg, serveOptions{log: cmdline.NewLogger(io.Discard), bound: bound}) }()
		var addr netAddr
		select {
		case addr = <-bound:
		case err := <-errc:
			t.Fatalf("round %d: serve: %v", round, err)
		}
		req, _ := http.NewRequest(http.MethodPut, "http://"+addr.String()+wire.EpisodeURLPath("e"), bytes.NewReader(body))
		req.Header.Set(wire.HeaderHost, "lab1")
		req.Header.Set(wire.HeaderSHA256, sha(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := []int{201, 200}[round]; resp.StatusCode != want {
			t.Errorf("round %d: status %d, want %d", round, resp.StatusCode, want)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("round %d: serve returned %v", round, err)
		}
	}
}

func TestSecondReceiverOnOneDataDirRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "[version_gate]\nenabled = false\n")
	startReceiver(t, nil, "--config", cfg)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--config", cfg}, io.Discard, &stderr)
	if code != exitProblem || !strings.Contains(stderr.String(), "in use") {
		t.Errorf("second receiver: exit %d, stderr %q", code, stderr.String())
	}
}
