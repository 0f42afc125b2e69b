package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
)

func mustClient(tb testing.TB, cfg config.ReceiverClient) *Client {
	tb.Helper()
	c, err := New(cfg, "lab1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func mustTarball(tb testing.TB, body string) (path, sha string) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "ep-1.tar.zst")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	return path, hex.EncodeToString(sum[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func TestUploadSendsHeadersAndBody(t *testing.T) {
	path, sha := mustTarball(t, "tarball bytes")
	var got http.Header
	var gotBody string
	var gotLen int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		gotLen = r.ContentLength
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		if r.URL.Path != "/v1/episodes/ep-1.tar.zst" || r.Method != http.MethodPut {
			writeJSON(w, 404, map[string]string{"error": "not-found", "detail": r.URL.Path})
			return
		}
		writeJSON(w, 201, wire.EpisodeReply{Status: "stored", ID: "ep-1", SHA256: sha, Bytes: int64(len(b))})
	}))
	defer srv.Close()

	c := mustClient(t, config.ReceiverClient{URL: srv.URL + "/", Token: "s3cret", TimeoutS: 30})
	var sent atomic.Int64
	var awaited atomic.Bool
	prog := progressFuncs{moved: func(n int64) { sent.Store(n) }, await: func(time.Time) { awaited.Store(true) }}
	commit := strings.Repeat("a", 40)
	reply, err := c.Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 13, Commit: commit, SchemaVersion: "3", Progress: prog})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Status != "stored" || reply.Bytes != 13 {
		t.Errorf("reply = %+v", reply)
	}
	checks := map[string]string{
		"Authorization":          "Bearer s3cret",
		wire.HeaderSHA256:        sha,
		wire.HeaderCommit:        commit,
		wire.HeaderHost:          "lab1",
		wire.HeaderSchemaVersion: "3",
	}
	for k, want := range checks {
		if g := got.Get(k); g != want {
			t.Errorf("header %s = %q, want %q", k, g, want)
		}
	}
	if gotBody != "tarball bytes" || gotLen != 13 {
		t.Errorf("body = %q (Content-Length %d)", gotBody, gotLen)
	}
	if sent.Load() != 13 || !awaited.Load() {
		t.Errorf("progress: sent=%d awaited=%v", sent.Load(), awaited.Load())
	}
}

func TestUploadOmitsAbsentCommit(t *testing.T) {
	path, sha := mustTarball(t, "x")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Header[wire.HeaderCommit]; ok {
			writeJSON(w, 400, map[string]string{"error": "unexpected-commit", "detail": "x"})
			return
		}
		writeJSON(w, 200, map[string]any{"status": "duplicate", "id": "ep-1", "sha256": sha, "bytes": 1})
	}))
	defer srv.Close()
	reply, err := mustClient(t, config.ReceiverClient{URL: srv.URL}).Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 1})
	if err != nil || reply.Status != "duplicate" {
		t.Fatalf("reply %+v, err %v", reply, err)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		retryAfter string
		wantCode   string
		wantClass  Class
		wantRetry  int
		wantRemedy string
	}{
		{"412 is fatal with remediation", 412, `{"error":"commit-not-in-window","detail":"old","remediation":"git pull"}`, "", "commit-not-in-window", Fatal, 0, "git pull"},
		{"400 is fatal", 400, `{"error":"missing-commit","detail":"no commit"}`, "", "missing-commit", Fatal, 0, ""},
		{"409 is fatal", 409, `{"error":"conflict","detail":"other sha","stored_sha256":"ab"}`, "", "conflict", Fatal, 0, ""},
		{"413 is fatal", 413, `{"error":"too-large","detail":"big"}`, "", "too-large", Fatal, 0, ""},
		{"401 is credentials", 401, `{"error":"unauthorized","detail":"who"}`, "", "unauthorized", Credentials, 0, ""},
		{"403 is credentials", 403, `{"error":"host-mismatch","detail":"cn"}`, "", "host-mismatch", Credentials, 0, ""},
		{"503 is transient with Retry-After", 503, `{"error":"gate-unavailable","detail":"no list"}`, "30", "gate-unavailable", Transient, 30, ""},
		{"507 is transient", 507, `{"error":"insufficient-storage","detail":"full"}`, "", "insufficient-storage", Transient, 0, ""},
		{"429 is transient", 429, `{"error":"busy","detail":"x"}`, "5", "busy", Transient, 5, ""},
		{"404 is transient", 404, `{"error":"not-found","detail":"x"}`, "", "not-found", Transient, 0, ""},
		{"proxy page keeps status", 502, `<html>bad gateway</html>`, "", "http-502", Transient, 0, ""},
		{"411 is transient", 411, `{"error":"length-required","detail":"x"}`, "", "length-required", Transient, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, sha := mustTarball(t, "body")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			_, err := mustClient(t, config.ReceiverClient{URL: srv.URL}).Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 4})
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("err = %v, want *wire.Error", err)
			}
			if got := Code(err); got != tt.wantCode {
				t.Errorf("Code = %q, want %q", got, tt.wantCode)
			}
			if got := Classify(err); got != tt.wantClass {
				t.Errorf("Classify = %v, want %v", got, tt.wantClass)
			}
			if we.RetryAfter != tt.wantRetry {
				t.Errorf("RetryAfter = %d, want %d", we.RetryAfter, tt.wantRetry)
			}
			if got := Remediation(we); got != tt.wantRemedy {
				t.Errorf("Remediation = %q, want %q", got, tt.wantRemedy)
			}
			if Status(err) != tt.status {
				t.Errorf("Status = %d", Status(err))
			}
		})
	}
}

func TestRefusalBeforeBodySendsNoBody(t *testing.T) {
	path, sha := mustTarball(t, strings.Repeat("x", 1<<20))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answer without reading: the server never sends 100 Continue.
		writeJSON(w, 412, map[string]string{"error": "commit-not-in-window", "detail": "old"})
	}))
	defer srv.Close()
	c := mustClient(t, config.ReceiverClient{URL: srv.URL, TimeoutS: 3600})
	var sent atomic.Int64
	prog := progressFuncs{moved: func(n int64) { sent.Store(n) }}
	_, err := c.Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 1 << 20, Progress: prog})
	if Classify(err) != Fatal {
		t.Fatalf("err = %v", err)
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("sent %d body bytes before a refusal, want 0 (Expect: 100-continue)", n)
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := mustClient(t, config.ReceiverClient{URL: url}).Ping(context.Background(), "")
	if err == nil || Classify(err) != Transient || Code(err) != "network" {
		t.Fatalf("err = %v (class %v, code %s)", err, Classify(err), Code(err))
	}
}

func TestDroppedConnectionIsTransient(t *testing.T) {
	path, sha := mustTarball(t, "abc")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	_, err := mustClient(t, config.ReceiverClient{URL: srv.URL}).Upload(context.Background(), Episode{ID: "ep-1", Path: path, SHA256: sha, Size: 3})
	if err == nil || Classify(err) != Transient {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenFileReadPerRequest(t *testing.T) {
	tokFile := filepath.Join(t.TempDir(), "token")
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		writeJSON(w, 200, wire.PingReply{Status: "ok", Host: r.Header.Get(wire.HeaderHost), Version: "t"})
	}))
	defer srv.Close()
	c := mustClient(t, config.ReceiverClient{URL: srv.URL, TokenFile: tokFile})

	if _, err := c.Ping(context.Background(), ""); !errors.Is(err, ErrCertsNotReady) {
		t.Fatalf("missing token file: err = %v, want ErrCertsNotReady", err)
	}
	for _, tok := range []string{"one", "two"} {
		if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ping(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := strings.Join(seen, ","), "Bearer one,Bearer two"; got != want {
		t.Errorf("tokens = %s, want %s", got, want)
	}
}

func TestPingSendsCommitAndDecodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wire.PingPath || r.Method != http.MethodPost {
			w.WriteHeader(404)
			return
		}
		gate := ""
		if r.Header.Get(wire.HeaderCommit) != "" {
			gate = "pass"
		}
		writeJSON(w, 200, wire.PingReply{Status: "ok", Host: r.Header.Get(wire.HeaderHost), Version: "1.0", Gate: gate})
	}))
	defer srv.Close()
	reply, err := mustClient(t, config.ReceiverClient{URL: srv.URL}).Ping(context.Background(), strings.Repeat("b", 40))
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.PingReply{Status: "ok", Host: "lab1", Version: "1.0", Gate: "pass"}); reply != want {
		t.Errorf("reply = %+v, want %+v", reply, want)
	}
}

func TestHead(t *testing.T) {
	sha := strings.Repeat("c", 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			w.WriteHeader(405)
			return
		}
		switch r.URL.Path {
		case "/v1/episodes/stored.tar.zst":
			w.Header().Set(wire.HeaderSHA256, strings.ToUpper(sha))
			w.Header().Set("Content-Length", "77")
			w.WriteHeader(200)
		case "/v1/episodes/denied.tar.zst":
			w.WriteHeader(401)
		default:
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	c := mustClient(t, config.ReceiverClient{URL: srv.URL})
	t.Run("stored", func(t *testing.T) {
		gotSHA, size, found, err := c.Head(context.Background(), "stored")
		if err != nil || !found || gotSHA != sha || size != 77 {
			t.Errorf("got %s %d %v %v", gotSHA, size, found, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, _, found, err := c.Head(context.Background(), "missing")
		if err != nil || found {
			t.Errorf("found=%v err=%v", found, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, _, _, err := c.Head(context.Background(), "denied")
		if Classify(err) != Credentials {
			t.Errorf("err = %v", err)
		}
	})
}

func TestPutHealth(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + string(b)
		writeJSON(w, 200, map[string]string{"status": "stored"})
	}))
	defer srv.Close()
	if err := mustClient(t, config.ReceiverClient{URL: srv.URL}).PutHealth(context.Background(), "lab1", []byte(`{"overall":"ok"}`)); err != nil {
		t.Fatal(err)
	}
	if want := `PUT /v1/host-health/lab1 {"overall":"ok"}`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     int
	}{
		{"empty", "", 0},
		{"seconds", "30", 30},
		{"negative", "-4", 0},
		{"garbage", "soon", 0},
		{"http date", now.Add(90 * time.Second).Format(http.TimeFormat), 90},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.in, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "://"} {
		t.Run(u, func(t *testing.T) {
			if _, err := New(config.ReceiverClient{URL: u}, "lab1", nil); err == nil {
				t.Errorf("New(%q) succeeded", u)
			}
		})
	}
}

func FuzzDecodeError(f *testing.F) {
	f.Add(412, []byte(`{"error":"commit-not-in-window","detail":"x","remediation":"y","window":100}`), "30")
	f.Add(502, []byte("<html>"), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(400, []byte(`[1,2]`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		resp.Header.Set("Retry-After", retry)
		e := decodeError(resp, body)
		if e.Status != status || e.RetryAfter < 0 {
			t.Fatalf("decodeError = %+v", e)
		}
		if e.Detail == "" && http.StatusText(status) != "" {
			t.Fatalf("empty detail for status %d", status)
		}
		_ = Remediation(e)
	})
}
