package gatecache

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"cis490/internal/config"
	"cis490/internal/gate"
	"cis490/internal/wire"
)

const unknownCommit = "deadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

// decodeBody renders an answer as the receiver would and decodes it back.
func decodeBody(t *testing.T, e *wire.Error) wire.ErrorBody {
	t.Helper()
	raw, err := json.Marshal(e.Body())
	if err != nil {
		t.Fatal(err)
	}
	var b wire.ErrorBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckAnswers(t *testing.T) {
	commits := fakeCommits(3)
	fake := newFakeForgejo(commits)
	cfg := gateConfig(fake.start(t), "")
	cfg.Remediation = "cd /opt/cis490 && sudo -u cis490 git pull origin main\n  echo 'quoted' \"double\" & <b>\tdone"
	c, _ := mustCache(t, cfg)
	<-c.Refresh()

	tests := []struct {
		name       string
		header     string
		present    bool
		want       gate.Verdict
		wantStatus int
		wantBody   wire.ErrorBody
	}{
		{"head passes", commits[0], true, gate.Pass, 0, wire.ErrorBody{}},
		{"upper-case commit passes", strings.ToUpper(commits[2]), true, gate.Pass, 0, wire.ErrorBody{}},
		{"unknown commit is 412 with verbatim remediation", strings.ToUpper(unknownCommit), true, gate.NotInWindow, 412,
			wire.ErrorBody{Error: wire.CodeCommitNotInWindow, Remediation: cfg.Remediation,
				YourCommit: unknownCommit, HeadCommit: commits[0], Window: 100}},
		{"missing header is 400", "", false, gate.MissingCommit, 400,
			wire.ErrorBody{Error: wire.CodeMissingCommit, Remediation: cfg.Remediation}},
		{"malformed header is 400", "v1.2.3", true, gate.MalformedCommit, 400,
			wire.ErrorBody{Error: wire.CodeMalformedCommit, Remediation: cfg.Remediation}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, e := c.Check(tt.header, tt.present)
			if v != tt.want {
				t.Errorf("verdict = %q, want %q", v, tt.want)
			}
			if tt.wantStatus == 0 {
				if e != nil {
					t.Errorf("answer = %v, want nil", e)
				}
				return
			}
			if e == nil || e.Status != tt.wantStatus {
				t.Fatalf("answer = %v, want status %d", e, tt.wantStatus)
			}
			got := decodeBody(t, e)
			got.Detail = ""
			if got != tt.wantBody {
				t.Errorf("body = %+v, want %+v", got, tt.wantBody)
			}
		})
	}
}

func TestGitSource(t *testing.T) {
	dir, commits := mustGitRepo(t, 3)
	tests := []struct {
		name     string
		repoPath string
		opts     []Option
	}{
		{"repo_path is the work tree", dir, nil},
		{"repo_path is the .git directory", filepath.Join(dir, ".git"), nil},
		{"unset repo_path uses the default checkout", "", []Option{WithDefaultRepoPath(filepath.Join(dir, ".git"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateConfig("", tt.repoPath)
			cfg.Window = 2
			c, logs := mustCache(t, cfg, tt.opts...)
			<-c.Refresh()

			if st := c.Stats(); st.Source != SourceGit || st.Commits != 2 || !st.Enabled {
				t.Errorf("stats = %+v, want 2 commits from git", st)
			}
			if v := c.Verdict(strings.ToUpper(commits[1]), true); v != gate.Pass {
				t.Errorf("second commit: %q, want pass", v)
			}
			if v := c.Verdict(commits[2], true); v != gate.NotInWindow {
				t.Errorf("commit past the window: %q, want %q", v, gate.NotInWindow)
			}
			if !strings.Contains(logs.String(), "source=git count=2") {
				t.Errorf("log lacks source=git count=2:\n%s", logs)
			}
		})
	}
}

func TestGitFallback(t *testing.T) {
	dir, commits := mustGitRepo(t, 2)
	tests := []struct {
		name  string
		setup func(f *fakeForgejo)
	}{
		{"unknown branch answers 404", func(f *fakeForgejo) { f.branches = map[string][]string{"dev": fakeCommits(1)} }},
		{"server error 500", func(f *fakeForgejo) { f.status = http.StatusInternalServerError }},
		{"branch without commits", func(f *fakeForgejo) { f.branches["main"] = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeForgejo(fakeCommits(5))
			fake.set(tt.setup)
			c, logs := mustCache(t, gateConfig(fake.start(t), dir))
			<-c.Refresh()

			if st := c.Stats(); st.Source != SourceGitFallback || st.Commits != 2 {
				t.Errorf("stats = %+v, want 2 commits from git-fallback", st)
			}
			if v := c.Verdict(commits[1], true); v != gate.Pass {
				t.Errorf("git commit: %q, want pass", v)
			}
			out := logs.String()
			for _, want := range []string{"source=git-fallback", `level=WARN msg="version gate source failed" source=forgejo`} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if len(fake.requests()) == 0 {
				t.Error("Forgejo was not asked first")
			}
		})
	}
	t.Run("unreachable server", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, _ := mustCache(t, gateConfig(url, dir))
		<-c.Refresh()
		if st := c.Stats(); st.Source != SourceGitFallback {
			t.Errorf("source = %q, want git-fallback", st.Source)
		}
	})
}

func TestSourcesDown(t *testing.T) {
	notRepo := t.TempDir() // exists, but git log fails there
	t.Run("prior list stays in force", func(t *testing.T) {
		commits := fakeCommits(3)
		fake := newFakeForgejo(commits)
		c, logs := mustCache(t, gateConfig(fake.start(t), notRepo))
		<-c.Refresh()
		loaded := c.Stats().LastRefresh

		fake.set(func(f *fakeForgejo) { f.status = http.StatusBadGateway })
		<-c.Refresh()
		<-c.Refresh()

		st := c.Stats()
		if st.Commits != 3 || st.Source != SourceForgejo || st.Failures != 2 || !st.LastRefresh.Equal(loaded) {
			t.Errorf("stats = %+v, want the forgejo list of 3 kept and 2 failures", st)
		}
		if v := c.Verdict(commits[2], true); v != gate.Pass {
			t.Errorf("verdict = %q, want pass from the kept list", v)
		}
		out := logs.String()
		if n := strings.Count(out, `level=WARN msg="version gate refresh failed; keeping previous list"`); n != 1 {
			t.Errorf("%d warnings for a failing streak, want 1 (then debug):\n%s", n, out)
		}
	})
	t.Run("never loaded answers 503 until a source answers", func(t *testing.T) {
		commits := fakeCommits(3)
		fake := newFakeForgejo(commits)
		fake.status = http.StatusInternalServerError
		clock := newFakeClock()
		c, _ := mustCache(t, gateConfig(fake.start(t), notRepo), WithClock(clock.Now))

		for _, h := range []string{commits[0], unknownCommit} {
			v, e := c.Check(h, true) // starts the first refresh
			<-c.Refresh()            // joins it, or retries: both fail
			if v != gate.Unavailable || e == nil || e.Status != http.StatusServiceUnavailable || e.RetryAfter != 30 {
				t.Fatalf("Check(%s) = %q, %v; want 503 gate-unavailable, Retry-After 30", h, v, e)
			}
			if v, e = c.Check(h, true); v != gate.Unavailable || e.Status != http.StatusServiceUnavailable {
				t.Fatalf("after failed refresh: %q, %v; want 503", v, e)
			}
		}

		fake.set(func(f *fakeForgejo) { f.status = 0 })
		<-c.Refresh()
		if v := c.Verdict(commits[0], true); v != gate.Pass {
			t.Errorf("after recovery: %q, want pass", v)
		}
		if v := c.Verdict(unknownCommit, true); v != gate.NotInWindow {
			t.Errorf("after recovery: %q, want %q", v, gate.NotInWindow)
		}
	})
}

// TestNewCommitWithinRefresh pushes a commit to the fake server and moves the
// clock: the first check after refresh_s starts one fetch on its own, and the
// commit passes once that fetch ends, without a restart.
func TestNewCommitWithinRefresh(t *testing.T) {
	old := fakeCommits(2)
	fresh := "feedfacefeedfacefeedfacefeedfacefeedface"
	fake := newFakeForgejo(old)
	clock := newFakeClock()
	cfg := gateConfig(fake.start(t), "")
	cfg.RefreshS = 5
	c, _ := mustCache(t, cfg, WithClock(clock.Now))
	<-c.Refresh()
	fake.drain()
	fake.push("main", fresh)

	clock.Add(4 * time.Second)
	if v := c.Verdict(fresh, true); v != gate.NotInWindow {
		t.Fatalf("before refresh_s: %q, want %q", v, gate.NotInWindow)
	}
	if n := fake.fetches(); n != 1 {
		t.Fatalf("%d fetches before refresh_s, want 1", n)
	}

	clock.Add(1 * time.Second)
	release := make(chan struct{})
	fake.set(func(f *fakeForgejo) { f.hold = release })
	if v := c.Verdict(fresh, true); v != gate.NotInWindow {
		t.Fatalf("check during the refresh: %q, want the stale answer %q", v, gate.NotInWindow)
	}
	fake.waitArrived(t) // the check started a fetch by itself
	done := c.Refresh() // joins the running fetch
	close(release)
	<-done

	if v := c.Verdict(strings.ToUpper(fresh), true); v != gate.Pass {
		t.Errorf("after refresh: %q, want pass", v)
	}
	if n := fake.fetches(); n != 2 {
		t.Errorf("%d fetches, want 2 (one load, one refresh)", n)
	}
}

// TestChecksDuringSlowRefresh runs 100 concurrent checks while the only
// upstream request is held open: none of them waits, and no second request
// is made.
func TestChecksDuringSlowRefresh(t *testing.T) {
	tests := []struct {
		name      string
		preload   bool
		want      gate.Verdict
		wantReqs  int
		wantError string
	}{
		{"stale list is served", true, gate.Pass, 2, ""},
		{"never loaded answers 503", false, gate.Unavailable, 1, wire.CodeGateUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits := fakeCommits(3)
			fake := newFakeForgejo(commits)
			clock := newFakeClock()
			c, _ := mustCache(t, gateConfig(fake.start(t), ""), WithClock(clock.Now))
			if tt.preload {
				<-c.Refresh()
				fake.drain()
				clock.Add(time.Minute)
			}
			release := make(chan struct{})
			fake.set(func(f *fakeForgejo) { f.hold = release })

			var wg sync.WaitGroup
			verdicts := make([]gate.Verdict, 100)
			answers := make([]*wire.Error, 100)
			for i := range verdicts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					verdicts[i], answers[i] = c.Check(strings.ToUpper(commits[i%3]), true)
				}()
			}
			allDone := make(chan struct{})
			go func() { wg.Wait(); close(allDone) }()
			select {
			case <-allDone:
			case <-time.After(30 * time.Second):
				t.Fatal("checks blocked behind the held upstream request")
			}
			fake.waitArrived(t)
			done := c.Refresh() // joins the held fetch
			close(release)
			<-done

			for i, v := range verdicts {
				if v != tt.want || (tt.wantError == "") != (answers[i] == nil) {
					t.Fatalf("check %d = %q, %v; want %q", i, v, answers[i], tt.want)
				}
				if answers[i] != nil && answers[i].Code != tt.wantError {
					t.Fatalf("check %d code = %q, want %q", i, answers[i].Code, tt.wantError)
				}
			}
			if n := fake.fetches(); n != tt.wantReqs {
				t.Errorf("%d upstream fetches, want %d", n, tt.wantReqs)
			}
		})
	}
}

func TestGateOff(t *testing.T) {
	fake := newFakeForgejo(fakeCommits(1))
	url := fake.start(t)
	tests := []struct {
		name    string
		cfg     config.VersionGate
		wantLog string
	}{
		{"disabled by config", func() config.VersionGate {
			cfg := gateConfig(url, "")
			cfg.Enabled = false
			return cfg
		}(), `level=WARN msg="version gate disabled by config`},
		{"no source at all", gateConfig("", ""), `level=WARN msg="version gate has no source; gate off, every commit passes" reason="no source"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := mustCache(t, tt.cfg)
			<-c.Refresh()
			for _, h := range []struct {
				header  string
				present bool
			}{{"", false}, {"junk", true}, {unknownCommit, true}} {
				if v, e := c.Check(h.header, h.present); v != gate.Disabled || e != nil {
					t.Errorf("Check(%q, %v) = %q, %v; want disabled, nil", h.header, h.present, v, e)
				}
			}
			if st := c.Stats(); st.Enabled {
				t.Errorf("stats = %+v, want disabled", st)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c.Run(ctx) // returns at once on a done context
		})
	}
	if n := len(fake.requests()); n != 0 {
		t.Errorf("disabled gate made %d upstream requests", n)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.VersionGate)
	}{
		{"not an http URL", func(c *config.VersionGate) { c.ForgejoURL = "ftp://forge" }},
		{"no repo owner", func(c *config.VersionGate) { c.RepoOwner = "" }},
		{"no repo name", func(c *config.VersionGate) { c.RepoName = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := gateConfig("http://127.0.0.1:1", "")
			tt.edit(&cfg)
			if _, err := New(cfg, nil); !errors.Is(err, ErrBadConfig) {
				t.Errorf("err = %v, want ErrBadConfig", err)
			}
		})
	}
}

// handlerTransport serves requests in memory, so the fake server can run
// inside a synctest bubble.
type handlerTransport struct{ h http.Handler }

func (ht handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	ht.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestRun drives the background loop on synctest's fake clock: the list
// loads at start, a pushed commit passes one refresh_s later, and Run
// returns when its context ends.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		old := fakeCommits(1)
		fresh := "feedfacefeedfacefeedfacefeedfacefeedface"
		fake := newFakeForgejo(old)
		cfg := gateConfig("http://forgejo.test", "")
		cfg.RefreshS = 5
		c, _ := mustCache(t, cfg, WithHTTPClient(&http.Client{Transport: handlerTransport{fake}}))

		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan struct{})
		go func() { c.Run(ctx); close(stopped) }()
		synctest.Wait()
		if v := c.Snapshot().Check(old[0], true); v != gate.Pass {
			t.Fatalf("after start: %q, want pass", v)
		}

		fake.push("main", fresh)
		time.Sleep(5 * time.Second) // fake time: one refresh_s passes
		synctest.Wait()
		if v := c.Snapshot().Check(fresh, true); v != gate.Pass {
			t.Errorf("one refresh_s after the push: %q, want pass", v)
		}

		cancel()
		<-stopped
	})
}

// BenchmarkCacheCheck measures the receiver's whole gate step on a fresh
// list: the staleness test, the snapshot load and the lookup.
func BenchmarkCacheCheck(b *testing.B) {
	commits := fakeCommits(100)
	fake := newFakeForgejo(commits)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := New(gateConfig(srv.URL, ""), slog.New(slog.DiscardHandler), WithDefaultRepoPath(""))
	if err != nil {
		b.Fatal(err)
	}
	<-c.Refresh()
	header := strings.ToUpper(commits[57])
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := c.Check(header, true); v != gate.Pass {
			b.Fatal(v)
		}
	}
}
