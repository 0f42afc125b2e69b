package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/receiver/registry"
)

// joinConfig writes a receiver.toml whose data_dir and [pki] dir live in a
// fresh temp directory, with extra appended.
func joinConfig(t *testing.T, extra string) (cfgPath, dataDir, pkiDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir, pkiDir = filepath.Join(dir, "data"), filepath.Join(dir, "pki")
	return writeConfig(t, dataDir, "[pki]\ndir = \""+pkiDir+"\"\npublic_url = \"https://receiver.lab.example\"\n"+extra), dataDir, pkiDir
}

func TestPKIInitCommand(t *testing.T) {
	cfg, _, pkiDir := joinConfig(t, "")
	code, out, _ := runCmd(t, "pki", "init", "--config", cfg, "--name", "receiver.lab.example", "--name", "10.90.0.1", "--json")
	if code != 0 {
		t.Fatalf("pki init: exit %d, %s", code, out)
	}
	m := oneJSON(t, out)
	if fp, _ := m["ca_sha256"].(string); !strings.HasPrefix(fp, "sha256:") || len(fp) != 71 || m["dir"] != pkiDir {
		t.Fatalf("pki init --json = %v", m)
	}
	code, out, _ = runCmd(t, "pki", "init", "--config", cfg, "--name", "x", "--json")
	if m := oneJSON(t, out); code != 1 || m["error"] != "exists" {
		t.Fatalf("second pki init: exit %d, %v; want 1 exists", code, m)
	}
	if code, _, _ := runCmd(t, "pki", "init", "--config", cfg); code != 2 {
		t.Fatalf("pki init without --name: exit %d, want 2", code)
	}
}

func TestHostCommands(t *testing.T) {
	cfg, dataDir, _ := joinConfig(t, "[auth.hosts]\nlab1 = \"/nonexistent\"\n")
	runCmd(t, "pki", "init", "--config", cfg, "--name", "receiver.lab.example")

	code, out, _ := runCmd(t, "host", "add", "lab7", "--config", cfg, "--ttl", "2h", "--json")
	if code != 0 {
		t.Fatalf("host add: exit %d, %s", code, out)
	}
	m := oneJSON(t, out)
	secret, _ := m["join_token"].(string)
	fp, _ := m["ca_sha256"].(string)
	wantCmd := "sudo cis490-shipper join --url https://receiver.lab.example --token " + secret + " --ca-sha256 " + fp
	if !strings.HasPrefix(secret, "cis490j_") || m["command"] != wantCmd || m["host"] != "lab7" {
		t.Fatalf("host add --json = %v; want command %q", m, wantCmd)
	}
	e, err := registry.Read(dataDir, "lab7")
	if err != nil || !registry.SumMatches(e.JoinSHA256, secret) {
		t.Fatalf("registry entry %+v, %v; want the printed secret's sum", e, err)
	}

	code, out, _ = runCmd(t, "host", "list", "--config", cfg, "--json")
	if code != 0 || !strings.Contains(out, `"source": "config"`) || !strings.Contains(out, `"joined_at": null`) {
		t.Fatalf("host list: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, "host", "revoke", "lab7", "--config", cfg, "--json")
	if m := oneJSON(t, out); code != 0 || m["revoked_at"] == nil {
		t.Fatalf("host revoke: exit %d, %v", code, m)
	}
	code, out, _ = runCmd(t, "host", "revoke", "nosuch", "--config", cfg, "--json")
	if m := oneJSON(t, out); code != 1 || m["error"] != "unknown-host" {
		t.Fatalf("host revoke of an unknown host: exit %d, %v; want 1 unknown-host", code, m)
	}
	if code, _, _ := runCmd(t, "host", "add", "../x", "--config", cfg); code != 2 {
		t.Fatalf("host add ../x: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "host", "frobnicate"); code != 2 {
		t.Fatalf("host frobnicate: exit %d, want 2", code)
	}

	// A file that does not parse is named, and listing says so (exit 1).
	os.WriteFile(registry.Path(dataDir, "lab9"), []byte("{"), 0o640)
	code, out, errOut := runCmd(t, "host", "list", "--config", cfg, "--json")
	if code != 1 || !strings.Contains(errOut, "lab9.json") || !strings.Contains(out, "problems") {
		t.Fatalf("host list with a broken file: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCmd(t, "fsck", "--config", cfg, "--json")
	if code != 1 || !strings.Contains(out, "bad-host-entry") || !strings.Contains(out, "lab9.json") {
		t.Fatalf("fsck with a broken registry file: exit %d\n%s", code, out)
	}
}
