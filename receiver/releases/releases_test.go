package releases

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cis490/internal/release"
)

// signedDir writes a signed release directory for version under seq.
func signedDir(t *testing.T, priv ed25519.PrivateKey, version string, seq int64) string {
	t.Helper()
	dir := t.TempDir()
	payload := []byte("artifact of " + version)
	file := "cis490-" + version + "-linux-arm64.tar.gz"
	os.WriteFile(filepath.Join(dir, file), payload, 0o644)
	sum := sha256.Sum256(payload)
	m := release.Manifest{Type: release.Type, Version: version, Commit: "unknown", CreatedAt: "2026-12-01T00:00:00.000Z",
		Artifacts: map[string]release.Artifact{"linux-arm64": {File: file, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(payload))}},
		Seq:       seq, ExpiresAt: "2099-01-01T00:00:00.000Z", Rollout: &release.Rollout{StartAt: "2026-12-01T00:00:00.000Z"}}
	b := m.Encode()
	os.WriteFile(filepath.Join(dir, release.ManifestFile), b, 0o644)
	os.WriteFile(filepath.Join(dir, release.SignatureFile), release.Sign(priv, b), 0o644)
	return dir
}

// TestPublishAfterAnInterruptedOne: a publish killed before its switch
// leaves a .tmp-<seq> or a <seq> directory that is not current; the store
// serves the old release meanwhile, and the next publish (of the same seq
// or a later one) completes and removes the leftovers.
func TestPublishAfterAnInterruptedOne(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	data := t.TempDir()
	s := Open(data)
	if _, err := s.Current(); !errors.Is(err, ErrNoRelease) {
		t.Fatalf("empty store: %v", err)
	}
	if _, err := s.Publish(signedDir(t, priv, "v1", 1), pub, time.Now()); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(s.dir, ".tmp-2", "junk"), 0o750)
	os.MkdirAll(filepath.Join(s.dir, "2"), 0o750) // renamed, never switched to
	if c, err := s.Current(); err != nil || c.Parsed.Version != "v1" {
		t.Fatalf("current during the interruption: %+v %v", c.Parsed, err)
	}
	if _, err := s.Publish(signedDir(t, priv, "v2", 2), pub, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Current(); c.Parsed.Version != "v2" {
		t.Errorf("current %s", c.Parsed.Version)
	}
	if _, err := os.Stat(filepath.Join(s.dir, ".tmp-2")); !os.IsNotExist(err) {
		t.Error(".tmp-2 left behind")
	}
	f, err := s.OpenFile("cis490-v1-linux-arm64.tar.gz")
	if err != nil {
		t.Fatalf("the previous release's file: %v", err)
	}
	f.Close()
	if _, err := s.OpenFile("../" + release.ManifestFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("path trick: %v", err)
	}
}
