package api

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cis490/internal/index"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/store"
)

// fuzzMethods are the methods a fuzzed request may use, picked by a byte.
var fuzzMethods = []string{http.MethodPut, http.MethodHead, http.MethodGet, http.MethodPost, http.MethodDelete, "PROPFIND"}

// FuzzHandler drives the whole handler with an arbitrary request line and
// header values. Whatever arrives, every answer is a JSON error or a
// success, and nothing is written outside store/, host-health/ and the two
// logs; tmp/ is empty again once the answer is sent.
func FuzzHandler(f *testing.F) {
	// Arguments: method selector, raw path, Authorization, X-Cis490-Host,
	// X-Content-SHA256 ("=" means the body's own sum), X-Cis490-Code-Commit,
	// X-Cis490-Schema-Version, body.
	f.Add(byte(0), "/v1/episodes/ep1.tar.zst", "Bearer "+sharedToken, "lab2", "=", goodCommit, "3", []byte("tarball"))
	f.Add(byte(0), "/v1/episodes/ep1.tar.zst", "Bearer "+lab1Token, "lab2", "=", goodCommit, "", []byte("x"))
	f.Add(byte(0), "/v1/episodes/..%2Findex.jsonl.tar.zst", "Bearer "+sharedToken, "lab2", "=", goodCommit, "", []byte("x"))
	f.Add(byte(0), "/v1/episodes/a%2F..%2F..%2Fetc.tar.zst", "Bearer "+sharedToken, "lab2", "=", oldCommit, "", []byte(""))
	f.Add(byte(0), "/v1/host-health/lab2", "Bearer "+sharedToken, "", "", "", "", []byte(`{"overall":"ok"}`))
	f.Add(byte(0), "/v1/host-health/..%2F..%2Fx", "Bearer "+sharedToken, "", "", "", "", []byte(`{}`))
	f.Add(byte(0), "/v1/host-health/lab1", "Bearer "+lab1Token, "", "", "", "", []byte(`[1]`))
	f.Add(byte(1), "/v1/episodes/ep1.tar.zst", "Bearer "+sharedToken, "", "", "", "", []byte(nil))
	f.Add(byte(2), "/v1/host-health", "bearer "+sharedToken, "", "", "", "", []byte(nil))
	f.Add(byte(2), "/metrics", "Bearer "+sharedToken, "", "", "", "", []byte(nil))
	f.Add(byte(3), "/v1/ping", "Bearer "+sharedToken, "lab2", "", "ABCDEF", "", []byte(nil))
	f.Add(byte(4), "/v1/episodes/ep1.tar.zst", "Bearer x", "lab\x00", "zz", "\xff", "a b", []byte("y"))
	f.Add(byte(0), "/v1/episodes/%2e%2e.tar.zst?x=1", "Bearer "+sharedToken, "lab2", "=", goodCommit, "", []byte("z"))
	f.Fuzz(func(t *testing.T, m byte, rawPath, authz, host, sha, commit, schema string, body []byte) {
		u, err := url.ParseRequestURI(rawPath)
		if err != nil || len(rawPath) > 4096 {
			return // net/http answers 400 before any handler runs
		}
		e := newEnv(t, nil)
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		r := httptest.NewRequest(method, "/", bytes.NewReader(body))
		r.URL, r.RequestURI = u, rawPath
		r.ContentLength = int64(len(body))
		if sha == "=" {
			sha = sum(body)
		}
		for k, v := range map[string]string{"Authorization": authz, wire.HeaderHost: host, wire.HeaderSHA256: sha,
			wire.HeaderCommit: commit, wire.HeaderSchemaVersion: schema} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		w := e.do(r)
		checkAnswer(t, method, u.Path, w)
		checkDataDir(t, e.dir)
	})
}

// checkAnswer fails unless w is a success or a JSON error body of the spec's
// shape.
func checkAnswer(t *testing.T, method, path string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code < 200 || w.Code >= 600 {
		t.Fatalf("%s %q: status %d", method, path, w.Code)
	}
	if method == http.MethodHead && w.Code < 300 {
		return // HEAD success carries headers only
	}
	if w.Code < 300 && (path == wire.HealthzPath || path == wire.MetricsPath) {
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Fatalf("%s %q: Content-Type %q", method, path, w.Header().Get("Content-Type"))
		}
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %q: %d with Content-Type %q: %q", method, path, w.Code, ct, w.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s %q: %d body is not a JSON object: %q", method, path, w.Code, w.Body)
	}
	if w.Code >= 300 {
		code, _ := m["error"].(string)
		detail, _ := m["detail"].(string)
		if code == "" || detail == "" {
			t.Fatalf("%s %q: %d error body without error/detail: %q", method, path, w.Code, w.Body)
		}
	}
}

// checkDataDir fails if the receiver wrote anything but its own files: a
// stored tarball under a valid id with its index row, a report under a valid
// host, the index, the attempts log and the lock.
func checkDataDir(t *testing.T, dir string) {
	t.Helper()
	stored := map[string]bool{}
	if _, _, err := index.ReadFile(filepath.Join(dir, datadir.IndexFile), func(r index.Row) { stored[r.ID] = true }); err != nil {
		t.Fatal(err)
	}
	left, err := store.TmpLeftovers(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			switch rel {
			case ".", datadir.StoreDir, datadir.TmpDir, datadir.HostHealthDir:
				return nil
			}
			t.Errorf("unexpected directory %q", rel)
			return fs.SkipDir
		}
		parent, name := filepath.Split(rel)
		switch strings.TrimSuffix(parent, "/") {
		case "":
			if name != datadir.IndexFile && name != datadir.AttemptsFile && name != datadir.LockFile {
				t.Errorf("unexpected file %q", rel)
			}
		case datadir.StoreDir:
			id, ok := strings.CutSuffix(name, wire.EpisodeSuffix)
			if !ok || !wire.ValidID(id) || !stored[id] {
				t.Errorf("store file %q has no valid id or no index row", rel)
			}
		case datadir.HostHealthDir:
			host, ok := strings.CutSuffix(name, ".json")
			if !ok || !wire.ValidHost(host) {
				t.Errorf("host-health file %q is not a valid host's report", rel)
			}
		case datadir.TmpDir:
			// Once answered, tmp/ holds only spares: empty ones, and
			// ones whose bytes are also a store/ file until that link is
			// durable.
			if slices.Contains(left, name) {
				t.Errorf("unexpected file %q", rel)
			}
		default:
			t.Errorf("unexpected file %q", rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// TestSecurityUncleanPathsAreNotFound: a path the mux would redirect to its
// canonical form is answered 404 (405 where another method is served) in
// the JSON error shape instead (a redirect is no answer of this API, and for
// GET it was an HTML page); nothing is stored.
func TestSecurityUncleanPathsAreNotFound(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         int
		code         string
	}{
		{http.MethodPut, "//v1/episodes/ep1.tar.zst", 404, "not-found"},
		{http.MethodPut, "/v1/episodes/./ep1.tar.zst", 404, "not-found"},
		{http.MethodPut, "/v1/host-health/../episodes/ep1.tar.zst", 404, "not-found"},
		{http.MethodPut, "/v1/episodes", 404, "not-found"},
		{http.MethodPut, "/v1/host-health", 405, "method-not-allowed"},
		{http.MethodGet, "//v1/host-health", 404, "not-found"},
		{http.MethodGet, "/v1/../metrics", 404, "not-found"},
		{http.MethodPost, "/v1//ping", 404, "not-found"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e := newEnv(t, nil)
			r := putReq("ep1", []byte("x"))
			r.Method = tc.method
			r.URL = &url.URL{Path: tc.path}
			w := e.do(r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %q", w.Code, tc.want, w.Body)
			}
			if m := decodeErr(t, w); m["error"] != tc.code {
				t.Errorf("error = %v", m["error"])
			}
			e.assertNothingStored()
		})
	}
}
