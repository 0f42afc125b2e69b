package queue

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
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
	"cis490/internal/queuedir"
	"cis490/internal/transport"
	"cis490/internal/wire"
)

// past is the mtime of test episodes: long settled.
var past = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const stamped = `{"code_version":{"commit":"0123456789abcdef0123456789abcdef01234567"},"schema_version":"3"}`

// mustEpisode writes episodes/<id> with meta (skipped when "") and one data
// file, every mtime set to at.
func mustEpisode(tb testing.TB, d queuedir.Layout, id, meta string, at time.Time) {
	tb.Helper()
	dir := filepath.Join(d.Episodes, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{"data.bin": "payload of " + id}
	if meta != "" {
		files["meta.json"] = meta
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Chtimes(dir, at, at); err != nil {
		tb.Fatal(err)
	}
}

func mustDirs(tb testing.TB) queuedir.Layout {
	tb.Helper()
	d := queuedir.New(tb.TempDir())
	if err := d.Ensure(); err != nil {
		tb.Fatal(err)
	}
	return d
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func names(tb testing.TB, dir string) string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return strings.Join(out, ",")
}

// syncBuffer is a log sink safe for the server and the pass goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// answer is one scripted reply to a PUT.
type answer struct {
	status     int
	body       string
	retryAfter string
	drop       bool // close the connection without answering
}

// fakeReceiver implements the receiver's PUT/HEAD answers of SPEC §4.2-4.3:
// it stores by id and sha, answers duplicates with 200 and other bodies with
// 409, unless a scripted answer is queued.
type fakeReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	stored  map[string]string
	script  []answer
	puts    []string // ids in PUT order
	headers []http.Header
	heads   int
}

func newFakeReceiver(tb testing.TB) *fakeReceiver {
	f := &fakeReceiver{stored: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeReceiver) queue(a ...answer) {
	f.mu.Lock()
	f.script = append(f.script, a...)
	f.mu.Unlock()
}

func (f *fakeReceiver) serve(w http.ResponseWriter, r *http.Request) {
	id, _ := wire.EpisodeFromPath(strings.TrimPrefix(r.URL.Path, wire.EpisodesPrefix))
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodHead {
		f.heads++
		if sha, ok := f.stored[id]; ok {
			w.Header().Set(wire.HeaderSHA256, sha)
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(404)
		return
	}
	f.puts = append(f.puts, id)
	f.headers = append(f.headers, r.Header.Clone())
	if len(f.script) > 0 {
		a := f.script[0]
		f.script = f.script[1:]
		if a.drop {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		return
	}
	want := r.Header.Get(wire.HeaderSHA256)
	if old, ok := f.stored[id]; ok {
		if old == want {
			json.NewEncoder(w).Encode(wire.EpisodeReply{Status: "duplicate", ID: id, SHA256: old})
			return
		}
		w.WriteHeader(409)
		io.WriteString(w, `{"error":"conflict","detail":"stored with another sha256"}`)
		return
	}
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		w.WriteHeader(400)
		io.WriteString(w, `{"error":"sha-mismatch","detail":"body does not match"}`)
		return
	}
	f.stored[id] = want
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(wire.EpisodeReply{Status: "stored", ID: id, SHA256: want, Bytes: n})
}

func (f *fakeReceiver) putOrder() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.puts, ",")
}

// mustQueue returns a queue over fresh dirs uploading to f, logging into
// the returned buffer; backoff jitter is pinned to its lowest value.
func mustQueue(tb testing.TB, f *fakeReceiver) (*Queue, *syncBuffer) {
	tb.Helper()
	cfg := config.DefaultLabHost("lab1")
	c, err := transport.New(config.ReceiverClient{URL: f.URL, TimeoutS: 30}, "lab1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	logs := &syncBuffer{}
	return &Queue{
		Dirs: mustDirs(tb),
		Cfg:  cfg.Shipper,
		Up:   c,
		Log:  slog.New(slog.NewTextHandler(logs, nil)),
		Rand: func() float64 { return 0 },
	}, logs
}

func readReason(tb testing.TB, dir string) queuedir.Reason {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, queuedir.ReasonFile))
	if err != nil {
		tb.Fatal(err)
	}
	var r queuedir.Reason
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatal(err)
	}
	return r
}
