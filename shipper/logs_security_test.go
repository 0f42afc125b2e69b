package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Secrets used by TestSecurityNoSecretInLogs; each is distinctive enough
// that no log line could hold it by chance.
const (
	secretShared  = "shared-Tk9-qZ7xW2pL"
	secretLab1    = "lab1-Tk4-mN8vB3rJ"
	secretWrong   = "wrong-Tk1-hY6cD5sF"
	secretForgejo = "forgejo-Tk2-aE3uI0oP"
)

// TestSecurityNoSecretInLogs runs the real receiver and the real shipper
// (each a child process) with tokens, through stored, duplicate, refused,
// conflicting, wrong-token and other-host uploads, pings and a health
// report, and checks that no token appears in anything either wrote: stderr,
// stdout, or any file under their data directories.
func TestSecurityNoSecretInLogs(t *testing.T) {
	bin := mustReceiverBinary(t)
	repo, commits := gitRepo(t, 3)
	head, old := commits[0], commits[2]
	dir := t.TempDir()
	secret := func(name, tok string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tok+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	// A Forgejo that refuses its token, so the gate falls back to git and
	// logs why.
	forgejo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"token is invalid"}`, http.StatusUnauthorized)
	}))
	defer forgejo.Close()

	// The receiver: a loose shared token file (so it warns), a per-host
	// token, an inline Forgejo token.
	recvData := filepath.Join(dir, "receiver-data")
	recvCfg := filepath.Join(dir, "receiver.toml")
	os.WriteFile(recvCfg, []byte(fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
data_dir = %q
[auth]
token_file = %q
[auth.hosts]
lab1 = %q
[version_gate]
forgejo_url = %q
repo_owner = "o"
repo_name = "r"
auth_token = %q
repo_path = %q
window = 2
refresh_s = 1
`, recvData, secret("shared", secretShared, 0o644), secret("lab1", secretLab1, 0o600), forgejo.URL, secretForgejo, repo)), 0o600)
	addr, recvLog, stopReceiver := startGatedReceiver(t, bin, "serve", "--config", recvCfg)
	defer stopReceiver()
	url := "http://" + addr

	// The shipper: one data directory, a config per credential.
	data := filepath.Join(dir, "lab-data")
	eps := filepath.Join(data, "episodes")
	shipperCfg := func(name, host, tokenLine string) string {
		p := filepath.Join(dir, name+".toml")
		os.WriteFile(p, []byte(fmt.Sprintf("host_id = %q\n[paths]\ndata_dir = %q\n[receiver]\nurl = %q\ntimeout_s = 30\n%s\n[shipper]\nsettle_s = 0\n",
			host, data, url, tokenLine)), 0o600)
		return p
	}
	good := shipperCfg("good", "lab2", fmt.Sprintf("token_file = %q", secret("ship-shared", secretShared, 0o640)))
	perHost := shipperCfg("per-host", "lab1", fmt.Sprintf("token = %q", secretLab1))
	wrong := shipperCfg("wrong", "lab2", fmt.Sprintf("token_file = %q", secret("ship-wrong", secretWrong, 0o600)))
	otherHost := shipperCfg("other-host", "lab3", fmt.Sprintf("token = %q", secretLab1))
	inlineWrong := shipperCfg("inline-wrong", "lab2", fmt.Sprintf("token = %q", secretWrong))

	doctorDir := t.TempDir()
	os.WriteFile(filepath.Join(doctorDir, "cis490-doctor"), []byte("#!/bin/sh\necho '{\"schema\":1,\"overall\":\"ok\"}'\n"), 0o755)
	t.Setenv("PATH", doctorDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var shipperLog bytes.Buffer
	step := func(name string, wantCode int, args ...string) {
		t.Helper()
		c := startChild(t, "", args...)
		err := c.cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&shipperLog, "== %s (exit %d)\n%s%s", name, code, c.stdout.String(), c.stderr.String())
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, wantCode, c.stderr.String())
		}
	}
	meta := func(commit string) string { return `{"code_version":{"commit":"` + commit + `"}}` }

	step("ping", 0, "--ping", "--commit", head, "--config", good)
	mustEpisodeMeta(t, eps, "ep-good", meta(head))
	mustEpisodeMeta(t, eps, "ep-old", meta(old))
	mustEpisodeMeta(t, eps, "ep-unstamped", `{}`)
	step("stored, 412 and 400", 3, "--once", "--json", "--config", good)
	mustEpisodeMeta(t, eps, "ep-good", meta(head))
	step("duplicate", 0, "--once", "--config", good)
	mustEpisodeMeta(t, eps, "ep-good", `{"code_version":{"commit":"`+head+`"},"changed":true}`)
	step("conflict", 3, "--once", "--config", good)
	mustEpisodeMeta(t, eps, "ep-wrong", meta(head))
	step("wrong token file", 1, "--once", "--json", "--config", wrong)
	step("wrong inline token", 1, "--once", "--config", inlineWrong)
	step("ping with a wrong token", 1, "--ping", "--json", "--config", wrong)
	step("another host's token", 1, "--once", "--config", otherHost)
	step("ping as another host", 1, "--ping", "--config", otherHost)
	step("per-host token ships", 0, "--once", "--config", perHost)
	step("status", 0, "status", "--json", "--config", perHost)
	step("ship-health", 0, "ship-health", "--config", good)
	step("ship-health with a wrong token", 1, "ship-health", "--json", "--config", wrong)
	stopReceiver()

	logs := map[string]string{"receiver stderr": recvLog.String(), "shipper output": shipperLog.String()}
	if !strings.Contains(logs["receiver stderr"], "readable by group or other") || !strings.Contains(logs["receiver stderr"], `status=401`) {
		t.Errorf("the receiver's log lacks the loose-mode warning or the refusals; the test no longer sees what it should:\n%s", logs["receiver stderr"])
	}
	if !strings.Contains(logs["shipper output"], "status=401") || !strings.Contains(logs["shipper output"], "status=409") {
		t.Errorf("the shipper's log lacks the 401 or the 409:\n%s", logs["shipper output"])
	}
	for _, root := range []string{recvData, data} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				logs[p] = string(b)
			}
			return nil
		})
	}
	for where, text := range logs {
		for _, s := range []string{secretShared, secretLab1, secretWrong, secretForgejo} {
			// Any 8-byte run of a secret is enough to call it leaked.
			for i := 0; i+8 <= len(s); i++ {
				if strings.Contains(text, s[i:i+8]) {
					t.Errorf("%s holds part of the token %q (%q)", where, s, s[i:i+8])
					break
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("receiver stderr:\n%s\nshipper output:\n%s", logs["receiver stderr"], logs["shipper output"])
	}
}
