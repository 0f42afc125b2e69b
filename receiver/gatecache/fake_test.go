package gatecache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cis490/internal/config"
)

// fakeForgejo is a canned Forgejo commits API for one repository, lab/cis490.
// Like the real server it caps limit per page and answers 404 for an unknown
// branch, or for a private repository without its token.
type fakeForgejo struct {
	mu       sync.Mutex
	branches map[string][]string // branch -> commits, newest first
	token    string              // when set, the repository is private
	status   int                 // when non-zero, every request gets this status
	pageCap  int                 // per-page cap on limit; 0 means 50
	hold     chan struct{}       // when non-nil, requests wait until it is closed
	reqs     []fakeRequest

	arrived chan struct{} // one value per request, as it arrives
}

type fakeRequest struct {
	Path  string
	Query url.Values
	Auth  string
}

func newFakeForgejo(commits []string) *fakeForgejo {
	return &fakeForgejo{
		branches: map[string][]string{"main": commits},
		arrived:  make(chan struct{}, 1000),
	}
}

func (f *fakeForgejo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, fakeRequest{Path: r.URL.Path, Query: r.URL.Query(), Auth: r.Header.Get("Authorization")})
	hold, status, token, limitCap := f.hold, f.status, f.token, f.pageCap
	f.mu.Unlock()
	f.arrived <- struct{}{}
	if hold != nil {
		<-hold
	}
	if status != 0 {
		http.Error(w, `{"message":"boom"}`, status)
		return
	}
	if r.URL.Path != "/api/v1/repos/lab/cis490/commits" {
		http.NotFound(w, r)
		return
	}
	if token != "" && r.Header.Get("Authorization") != "token "+token {
		http.NotFound(w, r) // Forgejo hides private repositories from strangers
		return
	}
	q := r.URL.Query()
	f.mu.Lock()
	commits, ok := f.branches[q.Get("sha")]
	commits = append([]string(nil), commits...)
	f.mu.Unlock()
	if !ok {
		http.Error(w, `{"message":"sha not found"}`, http.StatusNotFound)
		return
	}
	if limitCap == 0 {
		limitCap = 50
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > limitCap {
		limit = limitCap
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page <= 0 {
		page = 1
	}
	type elem struct {
		SHA     string            `json:"sha"`
		URL     string            `json:"url"`
		Commit  map[string]any    `json:"commit"`
		Parents []map[string]bool `json:"parents"`
	}
	out := []elem{}
	for i := (page - 1) * limit; i < page*limit && i < len(commits); i++ {
		out = append(out, elem{SHA: commits[i], URL: "http://x/" + commits[i],
			Commit: map[string]any{"message": "change " + strconv.Itoa(i), "author": map[string]string{"name": "t"}}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeForgejo) set(fn func(f *fakeForgejo)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// push makes sha the new head of branch.
func (f *fakeForgejo) push(branch, sha string) {
	f.set(func(f *fakeForgejo) { f.branches[branch] = append([]string{sha}, f.branches[branch]...) })
}

func (f *fakeForgejo) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.reqs...)
}

// fetches counts refreshes that reached the server: requests for page 1.
func (f *fakeForgejo) fetches() int {
	n := 0
	for _, r := range f.requests() {
		if r.Query.Get("page") == "1" {
			n++
		}
	}
	return n
}

// waitArrived waits for the next request to reach the server. The limit only
// turns a missing request into a failure instead of a hung test.
func (f *fakeForgejo) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-f.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the fake Forgejo")
	}
}

// drain forgets the arrivals signalled so far.
func (f *fakeForgejo) drain() {
	for {
		select {
		case <-f.arrived:
		default:
			return
		}
	}
}

func (f *fakeForgejo) pages() []string {
	var p []string
	for _, r := range f.requests() {
		p = append(p, r.Query.Get("page"))
	}
	return p
}

// start serves f on loopback for the test's lifetime.
func (f *fakeForgejo) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		f.set(func(f *fakeForgejo) {
			if f.hold != nil {
				select {
				case <-f.hold:
				default:
					close(f.hold)
				}
			}
		})
		srv.Close()
	})
	return srv.URL
}

// fakeCommits returns n distinct commits, newest first.
func fakeCommits(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%08x%032x", 0xc0ffee00+i, i*7919)
	}
	return out
}

// mustGitRepo creates a git repository with n empty commits on main and
// returns its work tree and the commits, newest first. It skips the test when
// git is not installed.
func mustGitRepo(t *testing.T, n int) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skipf("skipping: git not found in PATH (%v); the git source cannot be exercised", err)
	}
	dir := t.TempDir()
	env := append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	git("-c", "init.defaultBranch=main", "init", "-q", dir)
	for i := 0; i < n; i++ {
		git("-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--allow-empty", "-q", "-m", "c"+strconv.Itoa(i))
	}
	return dir, strings.Fields(git("-C", dir, "log", "--format=%H", "main"))
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects log output written from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gateConfig returns the default [version_gate] table with the given sources.
func gateConfig(forgejoURL, repoPath string) config.VersionGate {
	cfg := config.DefaultReceiver().VersionGate
	if forgejoURL != "" {
		cfg.ForgejoURL, cfg.RepoOwner, cfg.RepoName = forgejoURL, "lab", "cis490"
	}
	cfg.RepoPath = repoPath
	return cfg
}

// mustCache builds a Cache logging at debug level into the returned buffer.
// Unless opts say otherwise, the default checkout is a path that does not
// exist, so the host's own /opt/cis490/.git never leaks into a test.
func mustCache(t *testing.T, cfg config.VersionGate, opts ...Option) (*Cache, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := append([]Option{WithDefaultRepoPath(filepath.Join(t.TempDir(), "absent"))}, opts...)
	c, err := New(cfg, logger, all...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, logs
}
