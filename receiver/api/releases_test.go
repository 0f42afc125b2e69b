package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cis490/internal/release"
	"cis490/receiver/releases"
)

func getReq(path, token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

func TestReleaseRoutes(t *testing.T) {
	keyDir := t.TempDir()
	privPEM, pubPEM, err := release.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(keyDir, "release.pub")
	os.WriteFile(pubFile, pubPEM, 0o644)
	var rs *releases.Store
	e := newEnv(t, func(o *Options) {
		rs = releases.Open(o.Store.Dir())
		o.Releases, o.ReleaseKeyFile = rs, pubFile
	})

	t.Run("nothing published: 404 no-release", func(t *testing.T) {
		for _, p := range []string{"/v1/releases/current", "/v1/releases/current.sig", "/v1/releases/files/x.tar.gz"} {
			w := e.do(getReq(p, lab1Token))
			if w.Code != 404 || decodeErr(t, w)["error"] != "no-release" {
				t.Errorf("%s: %d %s", p, w.Code, w.Body)
			}
		}
	})

	payload := []byte(strings.Repeat("0123456789", 1000))
	src := t.TempDir()
	file := "cis490-v1-linux-arm64.tar.gz"
	os.WriteFile(filepath.Join(src, file), payload, 0o644)
	s := sha256.Sum256(payload)
	m := release.Manifest{Type: release.Type, Version: "v1", Commit: strings.Repeat("b", 40), CreatedAt: "2026-12-01T00:00:00.000Z",
		Artifacts: map[string]release.Artifact{"linux-arm64": {File: file, SHA256: hex.EncodeToString(s[:]), Bytes: int64(len(payload))}},
		Seq:       5, ExpiresAt: "2099-01-01T00:00:00.000Z", Rollout: &release.Rollout{StartAt: "2026-12-01T00:00:00.000Z", Hours: 1}}
	mb := m.Encode()
	priv, _ := release.ParsePrivateKey(privPEM)
	os.WriteFile(filepath.Join(src, release.ManifestFile), mb, 0o644)
	os.WriteFile(filepath.Join(src, release.SignatureFile), release.Sign(priv, mb), 0o644)
	pub, _ := release.ParsePublicKey(pubPEM)
	if _, err := rs.Publish(src, pub, time.Now()); err != nil {
		t.Fatal(err)
	}

	t.Run("manifest, signature and key are served as stored", func(t *testing.T) {
		for p, want := range map[string][]byte{
			"/v1/releases/current":     mb,
			"/v1/releases/current.sig": release.Sign(priv, mb),
			"/v1/releases/key":         pubPEM,
		} {
			w := e.do(getReq(p, sharedToken))
			if w.Code != 200 || w.Body.String() != string(want) {
				t.Errorf("%s: %d %q", p, w.Code, w.Body)
			}
		}
	})
	t.Run("an artifact with a Range", func(t *testing.T) {
		r := getReq("/v1/releases/files/"+file, lab1Token)
		r.Header.Set("Range", "bytes=100-")
		w := e.do(r)
		if w.Code != http.StatusPartialContent || w.Body.String() != string(payload[100:]) {
			t.Errorf("%d, %d bytes", w.Code, w.Body.Len())
		}
	})
	t.Run("unknown files and path tricks are 404", func(t *testing.T) {
		for _, p := range []string{"/v1/releases/files/release.json", "/v1/releases/files/..%2F..%2Findex.jsonl", "/v1/releases/files/other.tar.gz"} {
			if w := e.do(getReq(p, lab1Token)); w.Code != 404 {
				t.Errorf("%s: %d", p, w.Code)
			}
		}
	})
	t.Run("no token: 401", func(t *testing.T) {
		if w := e.do(getReq("/v1/releases/current", "")); w.Code != 401 {
			t.Errorf("%d", w.Code)
		}
	})
	t.Run("no attempts rows", func(t *testing.T) {
		if a := e.attempts(); len(a) != 0 {
			t.Errorf("attempts rows: %v", a)
		}
	})
}

func TestFleetRoute(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Fleet = func() (any, error) { return map[string]any{"schema": 1, "hosts": []any{}}, nil }
	})
	if w := e.do(getReq("/v1/fleet", "")); w.Code != 401 {
		t.Errorf("without a token: %d", w.Code)
	}
	w := e.do(getReq("/v1/fleet", lab1Token))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"schema":1`) {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
