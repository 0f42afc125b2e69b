package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/gate"
	"cis490/internal/index"
	"cis490/internal/jsonl"
	"cis490/internal/wire"
	"cis490/receiver/datadir"
	"cis490/receiver/store"
)

const (
	sharedToken = "shared-secret-token"
	lab1Token   = "lab1-secret-token"
	goodCommit  = "0123456789abcdef0123456789abcdef01234567"
	oldCommit   = "fedcba9876543210fedcba9876543210fedcba98"
)

// fakeGate passes goodCommit and refuses everything else like the real gate.
type fakeGate struct{ unavailable bool }

func (g fakeGate) Check(header string, present bool) *wire.Error {
	v := g.verdict(header, present)
	if !v.Refused() {
		return nil
	}
	s, _ := gate.NewSnapshot([]string{goodCommit}, 100, "test", time.Now())
	return gate.Refusal(v, header, s, config.DefaultRemediation)
}

func (g fakeGate) verdict(header string, present bool) gate.Verdict {
	switch {
	case !present:
		return gate.MissingCommit
	case !validCommit(header):
		return gate.MalformedCommit
	case g.unavailable:
		return gate.Unavailable
	case strings.EqualFold(header, goodCommit):
		return gate.Pass
	default:
		return gate.NotInWindow
	}
}

func (g fakeGate) Verdict(header string) string { return string(g.verdict(header, true)) }

type env struct {
	t       testing.TB
	dir     string
	st      *store.Store
	h       *Handler
	free    int64
	freeMu  sync.Mutex
	attLog  *AttemptsLog
	options Options
}

func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, _, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokDir := t.TempDir()
	writeTok := func(name, tok string) string {
		p := filepath.Join(tokDir, name)
		if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	auth, err := LoadAuth(config.Auth{
		TokenFile: writeTok("shared", sharedToken),
		Hosts:     map[string]string{"lab1": writeTok("lab1", lab1Token)},
	}, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	att, err := OpenAttemptsLog(datadir.New(dir), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { att.Close() })
	e := &env{t: t, dir: dir, st: st, free: 100 << 30, attLog: att}
	o := Options{
		Store: st, Gate: fakeGate{}, Auth: auth, MaxBodyBytes: 1 << 20, MinFreeBytes: 1 << 20,
		MaxConcurrentUploads: 4, Attempts: att, Version: "test",
		FreeBytes: func() (int64, error) { e.freeMu.Lock(); defer e.freeMu.Unlock(); return e.free, nil },
	}
	if mod != nil {
		mod(&o)
	}
	e.options = o
	e.h = New(o)
	return e
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// putReq builds a valid episode PUT; mutate it per case.
func putReq(id string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPut, wire.EpisodeURLPath(id), bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+sharedToken)
	r.Header.Set(wire.HeaderHost, "lab2")
	r.Header.Set(wire.HeaderSHA256, sum(body))
	r.Header.Set(wire.HeaderCommit, goodCommit)
	return r
}

// guardBody fails the test if the handler reads the body.
type guardBody struct {
	t    *testing.T
	read bool
}

func (g *guardBody) Read(p []byte) (int, error) { g.read = true; return 0, io.EOF }

func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) rows() []index.Row {
	var rows []index.Row
	if _, _, err := index.ReadFile(e.st.IndexPath(), func(r index.Row) { rows = append(rows, r) }); err != nil {
		e.t.Fatal(err)
	}
	return rows
}

func (e *env) attempts() []index.Attempt {
	var out []index.Attempt
	_, err := jsonl.ScanFile(filepath.Join(e.dir, datadir.AttemptsFile), func(line []byte) error {
		var a index.Attempt
		if err := json.Unmarshal(line, &a); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) assertNothingStored() {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, datadir.StoreDir))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ents) != 0 {
		e.t.Errorf("store/ holds %d entries, want none", len(ents))
	}
	if left, err := store.TmpLeftovers(e.dir); err != nil || len(left) != 0 {
		e.t.Errorf("tmp/ holds %v (%v), want nothing but spares", left, err)
	}
	if rows := e.rows(); len(rows) != 0 {
		e.t.Errorf("index has %d rows, want none", len(rows))
	}
}

func decodeErr(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

func TestPutRefusals(t *testing.T) {
	body := []byte("episode bytes")
	cases := []struct {
		name     string
		mod      func(*http.Request)
		opts     func(*Options)
		wantCode int
		wantErr  string
		extra    string // a field the body must carry
		retry    string
		recorded bool // appears in attempts.jsonl
	}{
		{"no token is 401", func(r *http.Request) { r.Header.Del("Authorization") }, nil, 401, "unauthorized", "", "", false},
		{"unknown token is 401", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, nil, 401, "unauthorized", "", "", false},
		{"401 beats bad suffix", func(r *http.Request) { r.Header.Del("Authorization"); r.URL.Path = "/v1/episodes/x.tar" }, nil, 401, "unauthorized", "", "", false},
		{"bad suffix", func(r *http.Request) { r.URL.Path = "/v1/episodes/ep1.tar.gz" }, nil, 400, "bad-suffix", "", "", true},
		{"bad suffix beats bad id", func(r *http.Request) { r.URL.Path = "/v1/episodes/.ep1.tar" }, nil, 400, "bad-suffix", "", "", true},
		{"bad id", func(r *http.Request) { r.URL.Path = "/v1/episodes/.hidden.tar.zst" }, nil, 400, "bad-id", "", "", true},
		{"bad id beats bad host", func(r *http.Request) { r.URL.Path = "/v1/episodes/-x.tar.zst"; r.Header.Del(wire.HeaderHost) }, nil, 400, "bad-id", "", "", true},
		{"missing host", func(r *http.Request) { r.Header.Del(wire.HeaderHost) }, nil, 400, "bad-host", "", "", true},
		{"invalid host", func(r *http.Request) { r.Header.Set(wire.HeaderHost, "lab/1") }, nil, 400, "bad-host", "", "", true},
		{"per-host token for another host", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+lab1Token) }, nil, 403, "host-mismatch", "", "", true},
		{"host mismatch beats bad sha", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+lab1Token)
			r.Header.Set(wire.HeaderSHA256, "x")
		}, nil, 403, "host-mismatch", "", "", true},
		{"missing sha", func(r *http.Request) { r.Header.Del(wire.HeaderSHA256) }, nil, 400, "bad-sha256-header", "", "", true},
		{"short sha", func(r *http.Request) { r.Header.Set(wire.HeaderSHA256, "abc") }, nil, 400, "bad-sha256-header", "", "", true},
		{"non-hex sha", func(r *http.Request) { r.Header.Set(wire.HeaderSHA256, strings.Repeat("g", 64)) }, nil, 400, "bad-sha256-header", "", "", true},
		{"bad schema version", func(r *http.Request) { r.Header.Set(wire.HeaderSchemaVersion, "v 3") }, nil, 400, "bad-schema-version", "", "", true},
		{"long schema version", func(r *http.Request) { r.Header.Set(wire.HeaderSchemaVersion, strings.Repeat("a", 33)) }, nil, 400, "bad-schema-version", "", "", true},
		{"chunked upload", func(r *http.Request) { r.ContentLength = -1 }, nil, 411, "length-required", "", "", true},
		{"missing commit", func(r *http.Request) { r.Header.Del(wire.HeaderCommit) }, nil, 400, "missing-commit", "remediation", "", true},
		{"malformed commit", func(r *http.Request) { r.Header.Set(wire.HeaderCommit, "abc") }, nil, 400, "malformed-commit", "remediation", "", true},
		{"old commit", func(r *http.Request) { r.Header.Set(wire.HeaderCommit, oldCommit) }, nil, 412, "commit-not-in-window", "head_commit", "", true},
		{"gate unavailable", nil, func(o *Options) { o.Gate = fakeGate{unavailable: true} }, 503, "gate-unavailable", "", "30", true},
		{"too large", nil, func(o *Options) { o.MaxBodyBytes = 4 }, 413, "too-large", "", "", true},
		{"gate beats too large", func(r *http.Request) { r.Header.Set(wire.HeaderCommit, oldCommit) }, func(o *Options) { o.MaxBodyBytes = 4 }, 412, "commit-not-in-window", "", "", true},
		{"disk full", nil, func(o *Options) { o.MinFreeBytes = 200 << 30 }, 507, "insufficient-storage", "", "", true},
		{"too large beats disk full", nil, func(o *Options) { o.MaxBodyBytes = 4; o.MinFreeBytes = 200 << 30 }, 413, "too-large", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			r := putReq("ep1", body)
			guard := &guardBody{t: t}
			r.Body = io.NopCloser(guard)
			if tc.mod != nil {
				tc.mod(r)
			}
			w := e.do(r)
			if w.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantCode, w.Body)
			}
			m := decodeErr(t, w)
			if m["error"] != tc.wantErr {
				t.Errorf("error = %v, want %s", m["error"], tc.wantErr)
			}
			if d, _ := m["detail"].(string); d == "" {
				t.Error("no detail")
			}
			if tc.extra != "" && m[tc.extra] == nil {
				t.Errorf("body lacks %q: %s", tc.extra, w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retry {
				t.Errorf("Retry-After = %q, want %q", got, tc.retry)
			}
			if guard.read {
				t.Error("the body was read before the refusal")
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			e.assertNothingStored()
			att := e.attempts()
			if !tc.recorded {
				if len(att) != 0 {
					t.Errorf("attempts = %+v, want none", att)
				}
				return
			}
			if len(att) != 1 || att[0].Status != tc.wantCode || att[0].Error != tc.wantErr || att[0].Bytes != 0 {
				t.Errorf("attempts = %+v, want one row %d %s with 0 bytes", att, tc.wantCode, tc.wantErr)
			}
		})
	}
}

func TestPutStoresAndAnswersDuplicates(t *testing.T) {
	e := newEnv(t, nil)
	body := []byte("the episode")
	r := putReq("ep-1", body)
	r.Header.Set(wire.HeaderSchemaVersion, "3")
	r.Header.Set(wire.HeaderCommit, strings.ToUpper(goodCommit))
	w := e.do(r)
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var rep wire.EpisodeReply
	json.Unmarshal(w.Body.Bytes(), &rep)
	if want := (wire.EpisodeReply{Status: "stored", ID: "ep-1", SHA256: sum(body), Bytes: int64(len(body))}); rep != want {
		t.Errorf("reply = %+v, want %+v", rep, want)
	}
	got, err := os.ReadFile(e.st.Path("ep-1"))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("stored file = %q, %v", got, err)
	}
	rows := e.rows()
	if len(rows) != 1 {
		t.Fatalf("rows = %+v", rows)
	}
	if r := rows[0]; r.Host != "lab2" || r.Commit != goodCommit || r.SchemaVersion != "3" || r.Source != "receiver" || r.Bytes != int64(len(body)) {
		t.Errorf("row = %+v", r)
	}

	t.Run("same sha is 200 duplicate without reading the body, even when now refused", func(t *testing.T) {
		r := putReq("ep-1", body)
		r.Header.Set(wire.HeaderCommit, oldCommit) // out of window
		guard := &guardBody{}
		r.Body = io.NopCloser(guard)
		r.ContentLength = 10 << 30 // oversize
		w := e.do(r)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"duplicate"`) {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if guard.read {
			t.Error("duplicate read the body")
		}
		if n := len(e.rows()); n != 1 {
			t.Errorf("rows = %d, want 1", n)
		}
	})
	t.Run("other sha is 409 with stored_sha256", func(t *testing.T) {
		other := []byte("different bytes")
		w := e.do(putReq("ep-1", other))
		if w.Code != http.StatusConflict {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if m := decodeErr(t, w); m["stored_sha256"] != sum(body) {
			t.Errorf("stored_sha256 = %v", m["stored_sha256"])
		}
	})
	t.Run("HEAD reports the stored tarball", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodHead, wire.EpisodeURLPath("ep-1"), nil)
		r.Header.Set("Authorization", "Bearer "+sharedToken)
		w := e.do(r)
		if w.Code != 200 || w.Header().Get(wire.HeaderSHA256) != sum(body) || w.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Errorf("HEAD = %d %v", w.Code, w.Header())
		}
		r = httptest.NewRequest(http.MethodHead, wire.EpisodeURLPath("ep-2"), nil)
		r.Header.Set("Authorization", "Bearer "+sharedToken)
		if w := e.do(r); w.Code != 404 {
			t.Errorf("HEAD missing = %d", w.Code)
		}
	})
}

func TestPutSHAMismatchLeavesNothing(t *testing.T) {
	e := newEnv(t, nil)
	r := putReq("ep1", []byte("actual"))
	r.Header.Set(wire.HeaderSHA256, sum([]byte("announced")))
	w := e.do(r)
	if w.Code != 400 {
		t.Fatalf("status %d", w.Code)
	}
	if m := decodeErr(t, w); m["error"] != "sha-mismatch" || m["computed_sha256"] != sum([]byte("actual")) {
		t.Errorf("body %v", m)
	}
	e.assertNothingStored()
	if a := e.attempts(); len(a) != 1 || a[0].Bytes != 6 || a[0].Error != "sha-mismatch" {
		t.Errorf("attempts %+v", a)
	}
}

// blockingBody signals its first Read, then blocks until released.
type blockingBody struct {
	started chan struct{}
	release chan struct{}
	data    []byte
	once    sync.Once
}

func (b *blockingBody) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.started); <-b.release })
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func TestPutBusyWhenSlotsTaken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxConcurrentUploads = 1 })
	body := []byte("slow body")
	bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: body}
	r1 := putReq("ep-a", body)
	r1.Body = io.NopCloser(bb)
	done := make(chan int)
	go func() { done <- e.do(r1).Code }()
	<-bb.started
	w := e.do(putReq("ep-b", body))
	if w.Code != 503 || w.Header().Get("Retry-After") != "5" || decodeErr(t, w)["error"] != "busy" {
		t.Errorf("second upload = %d %s", w.Code, w.Body)
	}
	close(bb.release)
	if code := <-done; code != 201 {
		t.Errorf("first upload = %d", code)
	}
}

func TestFreeSpaceCountsUploadsInFlight(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	e := newEnv(t, func(o *Options) { o.MinFreeBytes = 0 })
	e.free = 1500 // room for one 1000-byte upload, not two
	bb := &blockingBody{started: make(chan struct{}), release: make(chan struct{}), data: body}
	r1 := putReq("ep-a", body)
	r1.Body = io.NopCloser(bb)
	done := make(chan int)
	go func() { done <- e.do(r1).Code }()
	<-bb.started
	if w := e.do(putReq("ep-b", body)); w.Code != 507 {
		t.Errorf("second upload = %d, want 507", w.Code)
	}
	close(bb.release)
	<-done
}

func TestConcurrentPutsOfOneIDStoreOnce(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	body := bytes.Repeat([]byte("concurrent"), 5000)
	var wg sync.WaitGroup
	codes := make(chan int, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := http.NewRequest(http.MethodPut, srv.URL+wire.EpisodeURLPath("same"), bytes.NewReader(body))
			r.Header = putReq("same", body).Header
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[200] != 15 {
		t.Errorf("status counts = %v, want one 201 and fifteen 200", count)
	}
	if rows := e.rows(); len(rows) != 1 {
		t.Errorf("rows = %d, want 1", len(rows))
	}
}

func TestPathTricksStayInsideStore(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	body := []byte("x")
	paths := []string{
		"/v1/episodes/..%2F..%2Fetc%2Fpasswd.tar.zst",
		"/v1/episodes/a%2Fb.tar.zst",
		"/v1/episodes/../index.jsonl.tar.zst",
		"/v1/episodes/..%2Findex.jsonl.tar.zst",
		"/v1/episodes/a%00b.tar.zst",
		"/v1/episodes/" + strings.Repeat("a", 200) + ".tar.zst",
		"/v1/episodes/%2e%2e.tar.zst",
		"/v1/episodes/sub/dir.tar.zst",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPut, srv.URL+"/", bytes.NewReader(body))
			r.URL.Opaque = p // send the path exactly as written
			r.Header = putReq("x", body).Header
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 300 {
				t.Errorf("status = %d, want a refusal", resp.StatusCode)
			}
		})
	}
	var files []string
	filepath.Walk(e.dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, strings.TrimPrefix(p, e.dir))
		}
		return nil
	})
	for _, f := range files {
		if f != "/"+datadir.AttemptsFile && f != "/"+datadir.IndexFile && !strings.HasPrefix(f, "/"+datadir.TmpDir+"/") { // tmp/: below
			t.Errorf("unexpected file %s", f)
		}
	}
	e.assertNothingStored()
}

func TestPingAndHealthz(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != 200 || w.Body.String() != "ok\n" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("healthz = %d %q", w.Code, w.Body)
	}
	cases := []struct {
		name, commit string
		setCommit    bool
		token, host  string
		wantCode     int
		wantGate     string
	}{
		{"no commit header", "", false, sharedToken, "lab2", 200, ""},
		{"commit in window", goodCommit, true, sharedToken, "lab2", 200, "pass"},
		{"commit out of window", oldCommit, true, sharedToken, "lab2", 200, "commit-not-in-window"},
		{"malformed commit", "zz", true, sharedToken, "lab2", 200, "malformed-commit"},
		{"no token", "", false, "", "lab2", 401, ""},
		{"token of another host", "", false, lab1Token, "lab2", 403, ""},
		{"no host", "", false, sharedToken, "", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/ping", nil)
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.host != "" {
				r.Header.Set(wire.HeaderHost, tc.host)
			}
			if tc.setCommit {
				r.Header.Set(wire.HeaderCommit, tc.commit)
			}
			w := e.do(r)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if tc.wantCode != 200 {
				return
			}
			var rep wire.PingReply
			json.Unmarshal(w.Body.Bytes(), &rep)
			if rep.Status != "ok" || rep.Host != tc.host || rep.Version != "test" || rep.Gate != tc.wantGate {
				t.Errorf("reply = %+v", rep)
			}
		})
	}
	if a := e.attempts(); len(a) != 0 {
		t.Errorf("ping wrote attempts: %+v", a)
	}
}

func TestHostHealth(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Gate = fakeGate{unavailable: true} })
	put := func(host, token, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPut, "/v1/host-health/"+host, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		return e.do(r)
	}
	if w := put("lab2", sharedToken, `{"overall":"ok","checks":[]}`); w.Code != 200 || !strings.Contains(w.Body.String(), `"stored"`) {
		t.Fatalf("put = %d %s", w.Code, w.Body)
	}
	if w := put("lab1", lab1Token, `{"overall":"fail"}`); w.Code != 200 {
		t.Fatalf("own report with per-host token = %d %s", w.Code, w.Body)
	}
	for _, tc := range []struct {
		name, host, token, body string
		code                    int
		err                     string
	}{
		{"another host's report", "lab2", lab1Token, `{}`, 403, "host-mismatch"},
		{"array", "lab2", sharedToken, `[1]`, 400, "bad-json"},
		{"invalid json", "lab2", sharedToken, `{"a":`, 400, "bad-json"},
		{"string", "lab2", sharedToken, `"x"`, 400, "bad-json"},
		{"bad host", "-x", sharedToken, `{}`, 400, "bad-host"},
		{"too large", "lab2", sharedToken, `{"a":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "too-large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := put(tc.host, tc.token, tc.body)
			if w.Code != tc.code || decodeErr(t, w)["error"] != tc.err {
				t.Errorf("= %d %s", w.Code, w.Body)
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, "/v1/host-health", nil)
	r.Header.Set("Authorization", "Bearer "+lab1Token)
	w := e.do(r)
	var got struct {
		Hosts map[string]struct {
			ReceivedAt string         `json:"received_at"`
			Report     map[string]any `json:"report"`
		} `json:"hosts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("GET = %d %s", w.Code, w.Body)
	}
	if len(got.Hosts) != 2 || got.Hosts["lab2"].Report["overall"] != "ok" || got.Hosts["lab1"].Report["overall"] != "fail" || got.Hosts["lab2"].ReceivedAt == "" {
		t.Errorf("hosts = %+v", got.Hosts)
	}
}

func TestMetricsExposition(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.GateStats = func() GateStats {
			return GateStats{Enabled: true, Source: "forgejo", Commits: 100, LastRefresh: time.Now()}
		}
	})
	e.do(putReq("ep1", []byte("x")))
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if w := e.do(r); w.Code != 401 {
		t.Errorf("metrics without token = %d", w.Code)
	}
	r.Header.Set("Authorization", "Bearer "+sharedToken)
	w := e.do(r)
	for _, want := range []string{`cis490_uploads_total{status="201",outcome="stored"} 1`, "cis490_stored_bytes_total 1",
		"cis490_uploads_in_flight 0", `cis490_gate_commits{source="forgejo"} 100`, "cis490_unauthorized_total 1"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, w.Body)
		}
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func validCommit(s string) bool {
	_, ok := gate.ParseCommit(s)
	return ok
}
