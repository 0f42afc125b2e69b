package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/release"
)

// makeRelease writes a dist-like directory: one artifact and an unsigned
// release.json naming it, as build.sh does.
func makeRelease(t *testing.T, version string, payload []byte) string {
	t.Helper()
	dir := t.TempDir()
	file := "cis490-" + version + "-linux-amd64.tar.gz"
	if err := os.WriteFile(filepath.Join(dir, file), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(payload)
	m := release.Manifest{Type: release.Type, Version: version, Commit: strings.Repeat("a", 40),
		CreatedAt: "2026-12-01T00:00:00.000Z",
		Artifacts: map[string]release.Artifact{"linux-amd64": {File: file, SHA256: hex.EncodeToString(s[:]), Bytes: int64(len(payload))}}}
	if err := os.WriteFile(filepath.Join(dir, release.ManifestFile), m.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, out, errs := runCmd(t, args...)
	if code != want {
		t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out, errs)
	}
	return out
}

func TestReleaseKeygenSignPublish(t *testing.T) {
	keys := t.TempDir()
	mustRun(t, exitOK, "release", "keygen", "--out", keys)
	if fi, err := os.Stat(filepath.Join(keys, release.PrivateKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", fi, err)
	}
	t.Run("keygen never overwrites", func(t *testing.T) {
		mustRun(t, exitProblem, "release", "keygen", "--out", keys)
	})
	other := t.TempDir()
	mustRun(t, exitOK, "release", "keygen", "--out", other)

	dataDir := t.TempDir()
	cfg := writeConfig(t, dataDir, fmt.Sprintf("[releases]\npublic_key_file = %q\n", filepath.Join(keys, release.PublicKeyFile)))
	key := filepath.Join(keys, release.PrivateKeyFile)

	r1 := makeRelease(t, "v1", []byte("release one"))
	mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "10", r1)
	out := mustRun(t, exitOK, "release", "publish", r1, "--config", cfg, "--json")
	if m := oneJSON(t, out); m["version"] != "v1" || m["seq"] != 10.0 {
		t.Fatalf("publish: %v", m)
	}
	current := func() string {
		b, err := os.ReadFile(filepath.Join(dataDir, "releases", "current", release.ManifestFile))
		if err != nil {
			t.Fatal(err)
		}
		m, _ := release.Parse(b)
		return fmt.Sprintf("%s/%d", m.Version, m.Seq)
	}

	refusals := []struct {
		name string
		prep func(t *testing.T) string
		kind string
	}{
		{"a lower seq is refused", func(t *testing.T) string {
			d := makeRelease(t, "v0", []byte("older"))
			mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "9", d)
			return d
		}, "not-newer"},
		{"the same seq is refused", func(t *testing.T) string {
			d := makeRelease(t, "v1b", []byte("same seq"))
			mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "10", d)
			return d
		}, "not-newer"},
		{"another key's signature is refused", func(t *testing.T) string {
			d := makeRelease(t, "v2", []byte("two"))
			mustRun(t, exitOK, "release", "sign", "--key", filepath.Join(other, release.PrivateKeyFile), "--seq", "20", d)
			return d
		}, "bad-signature"},
		{"an edited manifest is refused", func(t *testing.T) string {
			d := makeRelease(t, "v2", []byte("two"))
			mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "20", d)
			p := filepath.Join(d, release.ManifestFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"seq": 20`, `"seq": 21`, 1)), 0o644)
			return d
		}, "bad-signature"},
		{"a flipped byte in the artifact is refused", func(t *testing.T) string {
			d := makeRelease(t, "v2", []byte("two"))
			mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "20", d)
			os.WriteFile(filepath.Join(d, "cis490-v2-linux-amd64.tar.gz"), []byte("twO"), 0o644)
			return d
		}, "bad-artifact"},
		{"an expired manifest is refused", func(t *testing.T) string {
			d := makeRelease(t, "v2", []byte("two"))
			mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "20", "--expires", "1ns", d)
			return d
		}, "expired"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.prep(t)
			out := mustRun(t, exitProblem, "release", "publish", d, "--config", cfg, "--json")
			if m := oneJSON(t, out); m["error"] != tt.kind {
				t.Errorf("error %v, want %s", m["error"], tt.kind)
			}
			if got := current(); got != "v1/10" {
				t.Errorf("current is %s after a refused publish", got)
			}
		})
	}

	t.Run("a higher seq becomes current and the previous stays", func(t *testing.T) {
		d := makeRelease(t, "v2", []byte("two"))
		mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "20", d)
		mustRun(t, exitOK, "release", "publish", "--config", cfg, d)
		if got := current(); got != "v2/20" {
			t.Fatalf("current %s", got)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "releases", "previous", "cis490-v1-linux-amd64.tar.gz")); err != nil {
			t.Errorf("previous release gone: %v", err)
		}
		// Going back: the old version again under a higher seq.
		back := makeRelease(t, "v1", []byte("release one"))
		mustRun(t, exitOK, "release", "sign", "--key", key, "--seq", "30", back)
		mustRun(t, exitOK, "release", "publish", "--config", cfg, back)
		if got := current(); got != "v1/30" {
			t.Fatalf("current %s", got)
		}
		ents, _ := os.ReadDir(filepath.Join(dataDir, "releases"))
		if len(ents) != 4 { // current, previous and their two directories
			t.Errorf("releases/ holds %d entries, want 4", len(ents))
		}
	})
}
