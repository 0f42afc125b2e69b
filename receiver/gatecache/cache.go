// Package gatecache keeps the receiver's version gate list fresh (SPEC §7).
// It loads the newest commits of the branch from Forgejo, or from a local git
// checkout, in the background, and answers every check from the cached
// snapshot without waiting on the network.
package gatecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cis490/internal/config"
	"cis490/internal/gate"
	"cis490/internal/wire"
)

// DefaultRepoPath is the checkout used as the git source when repo_path is
// unset and the directory exists (SPEC §7).
const DefaultRepoPath = "/opt/cis490/.git"

// Source names, as they appear in Stats and in the source= key of the logs.
const (
	SourceForgejo     = "forgejo"
	SourceGit         = "git"          // git is the only source
	SourceGitFallback = "git-fallback" // git answered after Forgejo failed
)

// Time limits of one refresh. A check never waits for them; they only bound
// how long a dead source holds the single in-flight refresh.
const (
	httpTimeout    = 5 * time.Second  // one Forgejo page
	forgejoTimeout = 10 * time.Second // all pages of one refresh
	gitTimeout     = 5 * time.Second
)

// ErrBadConfig is returned by New for a [version_gate] table it cannot use.
var ErrBadConfig = errors.New("version_gate")

// Option adjusts a Cache built by New; the tests' options are in
// export_test.go.
type Option func(*options)

type options struct {
	client          *http.Client
	gitBin          string
	defaultRepoPath string
	now             func() time.Time
}

// Stats is the gate's state for /metrics.
type Stats struct {
	Enabled     bool      // false when disabled by config or without any source
	Source      string    // source of the list in force; "" when none was ever loaded
	Commits     int       // commits in the list in force
	LastRefresh time.Time // end of the last successful refresh; zero when never
	Failures    uint64    // refreshes in which every source failed
}

// Cache is the receiver's version gate: a snapshot of valid commits, kept
// fresh by at most one background refresh at a time. It is safe for
// concurrent use.
type Cache struct {
	enabled     bool
	window      int
	every       time.Duration
	remediation string
	fj          *forgejo
	git         *gitRepo
	log         *slog.Logger
	now         func() time.Time

	snap      atomic.Pointer[gate.Snapshot]
	lastStart atomic.Int64 // c.now() in Unix nanoseconds when the latest refresh started
	failures  atomic.Uint64

	mu       sync.Mutex
	inflight chan struct{} // closed when the running refresh ends; nil when idle

	// Owned by the running refresh; single flight serialises them.
	failing    map[string]bool
	allFailing bool
}

// New builds the gate for cfg. Source resolution follows SPEC §7 and §13:
// Forgejo when forgejo_url is set, git at repo_path (or DefaultRepoPath when
// unset and present) as fallback or sole source; with no source at all the
// gate is off and a warning is logged. New does no network I/O; the list loads
// on the first Check, Refresh or Run. An unusable table gives ErrBadConfig.
func New(cfg config.VersionGate, logger *slog.Logger, opts ...Option) (*Cache, error) {
	o := options{gitBin: "git", defaultRepoPath: DefaultRepoPath, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if logger == nil {
		logger = slog.Default()
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: httpTimeout}
	}
	c := &Cache{
		window:      cfg.Window,
		every:       time.Duration(cfg.RefreshS) * time.Second,
		remediation: cfg.Remediation,
		log:         logger,
		now:         o.now,
		failing:     map[string]bool{},
	}
	if c.window <= 0 {
		c.window = 100
	}
	if c.every <= 0 {
		c.every = 5 * time.Second
	}
	branch := cfg.Branch
	if branch == "" {
		branch = "main"
	}
	if !cfg.Enabled {
		logger.Warn("version gate disabled by config; every commit passes", "enabled", false)
		return c, nil
	}
	if cfg.ForgejoURL != "" {
		u, err := url.Parse(cfg.ForgejoURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: forgejo_url %q is not an http(s) URL", ErrBadConfig, cfg.ForgejoURL)
		}
		if cfg.RepoOwner == "" || cfg.RepoName == "" {
			return nil, fmt.Errorf("%w: forgejo_url needs repo_owner and repo_name", ErrBadConfig)
		}
		c.fj = &forgejo{
			base:      strings.TrimRight(cfg.ForgejoURL, "/"),
			owner:     cfg.RepoOwner,
			repo:      cfg.RepoName,
			branch:    branch,
			token:     cfg.AuthToken,
			tokenFile: cfg.AuthTokenFile,
			client:    o.client,
		}
		if cfg.AuthTokenFile != "" {
			if _, err := c.fj.authToken(); err != nil {
				logger.Warn("version gate token file unreadable", "error", err)
			}
		}
	}
	repo := cfg.RepoPath
	if repo == "" && o.defaultRepoPath != "" {
		if _, err := os.Stat(o.defaultRepoPath); err == nil {
			repo = o.defaultRepoPath
		}
	} else if repo != "" {
		if _, err := os.Stat(repo); err != nil {
			logger.Warn("version gate repo_path not readable; will keep trying", "repo_path", repo, "error", err)
		}
	}
	if repo != "" {
		c.git = &gitRepo{bin: o.gitBin, path: repo, branch: branch}
	}
	if c.fj == nil && c.git == nil {
		logger.Warn("version gate has no source; gate off, every commit passes",
			"reason", "no source", "forgejo_url", "", "repo_path", "", "default_repo_path", o.defaultRepoPath)
		return c, nil
	}
	c.enabled = true
	attrs := []any{"window", c.window, "refresh_s", int(c.every / time.Second), "branch", branch}
	if c.fj != nil {
		attrs = append(attrs, "forgejo", c.fj.base+"/"+c.fj.owner+"/"+c.fj.repo)
	}
	if c.git != nil {
		attrs = append(attrs, "repo_path", c.git.path)
	}
	logger.Info("version gate on", attrs...)
	return c, nil
}

// Check decides an upload's commit header; present reports whether the
// header was sent. It returns the verdict and the answer to send, nil when
// the verdict admits the upload. Check never waits on the network: when the
// list is older than refresh_s it starts a background refresh (unless one is
// running) and decides on the list it has.
func (c *Cache) Check(header string, present bool) (gate.Verdict, *wire.Error) {
	if !c.enabled {
		return gate.Disabled, nil
	}
	c.kick()
	s := c.snap.Load()
	v := s.Check(header, present)
	if !v.Refused() {
		return v, nil
	}
	return v, gate.Refusal(v, header, s, c.remediation)
}

// Verdict is Check without the answer, for the gate field of a ping reply
// (SPEC §4.4).
func (c *Cache) Verdict(header string, present bool) gate.Verdict {
	v, _ := c.Check(header, present)
	return v
}

// Snapshot returns the list in force, nil when none was ever loaded.
func (c *Cache) Snapshot() *gate.Snapshot { return c.snap.Load() }

// Stats returns the gate's state for /metrics.
func (c *Cache) Stats() Stats {
	st := Stats{Enabled: c.enabled, Failures: c.failures.Load()}
	if s := c.snap.Load(); s != nil {
		st.Source, st.Commits, st.LastRefresh = s.Source, s.Len(), s.Loaded
	}
	return st
}

// Refresh starts a background refresh unless one is running, and returns a
// channel closed when the running refresh ends. A caller may wait on it, for
// example to hold READY=1 briefly until the first list loads; checks never do.
// On a disabled gate the channel is already closed.
func (c *Cache) Refresh() <-chan struct{} {
	if !c.enabled {
		done := make(chan struct{})
		close(done)
		return done
	}
	return c.start(context.Background(), false)
}

// Run refreshes the list at once and then every refresh_s until ctx is done,
// then waits for a running refresh to end and returns. On a disabled gate it
// only waits for ctx.
func (c *Cache) Run(ctx context.Context) {
	if !c.enabled {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(c.every)
	defer t.Stop()
	c.start(ctx, false)
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			running := c.inflight
			c.mu.Unlock()
			if running != nil {
				<-running
			}
			return
		case <-t.C:
			c.start(ctx, false)
		}
	}
}

// kick starts a refresh when the last one started refresh_s or more ago. The
// fast path is two atomic loads, so checks stay cheap.
func (c *Cache) kick() {
	if !c.stale() {
		return
	}
	c.start(context.Background(), true)
}

func (c *Cache) stale() bool {
	return c.now().UnixNano()-c.lastStart.Load() >= int64(c.every)
}

// start runs one refresh in the background unless one is running, and
// returns the running refresh's done channel. With onlyIfStale it starts
// nothing when another caller began a refresh since the list went stale.
func (c *Cache) start(ctx context.Context, onlyIfStale bool) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight != nil {
		return c.inflight
	}
	done := make(chan struct{})
	if onlyIfStale && !c.stale() {
		close(done)
		return done
	}
	c.inflight = done
	c.lastStart.Store(c.now().UnixNano())
	go func() {
		c.refresh(ctx)
		c.mu.Lock()
		c.inflight = nil
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// refresh loads a list from the first source that answers and swaps it in;
// when every source fails, the list in force stays.
func (c *Cache) refresh(ctx context.Context) {
	var snap *gate.Snapshot
	if c.fj != nil {
		snap = c.try(ctx, SourceForgejo, forgejoTimeout, c.fj.fetch)
	}
	if snap == nil && c.git != nil && ctx.Err() == nil {
		name := SourceGit
		if c.fj != nil {
			name = SourceGitFallback
		}
		snap = c.try(ctx, name, gitTimeout, c.git.fetch)
	}
	if ctx.Err() != nil && snap == nil {
		return // shutting down; not a source failure
	}
	if snap == nil {
		c.failures.Add(1)
		old := c.snap.Load()
		level := slog.LevelDebug
		if !c.allFailing {
			level = slog.LevelWarn
		}
		c.allFailing = true
		if old == nil {
			c.log.Log(ctx, level, "version gate has no commit list; answering 503 gate-unavailable",
				"source", "none", "count", 0)
		} else {
			c.log.Log(ctx, level, "version gate refresh failed; keeping previous list",
				"source", old.Source, "count", old.Len(), "loaded", wire.FormatTime(old.Loaded))
		}
		return
	}
	old := c.snap.Swap(snap)
	level := slog.LevelDebug
	if old == nil || old.Source != snap.Source || !old.SameCommits(snap) || c.allFailing {
		level = slog.LevelInfo
	}
	c.allFailing = false
	c.log.Log(ctx, level, "version gate refreshed", "source", snap.Source, "count", snap.Len(), "head", snap.Head)
}

// try fetches from one source and builds its snapshot, logging a failure at
// warning level once per failing streak and at debug level after that.
func (c *Cache) try(ctx context.Context, name string, limit time.Duration,
	fetch func(context.Context, int) ([]string, error)) *gate.Snapshot {
	fctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	list, err := fetch(fctx, c.window)
	var snap *gate.Snapshot
	if err == nil {
		snap, err = gate.NewSnapshot(list, c.window, name, c.now())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		level := slog.LevelDebug
		if !c.failing[name] {
			level = slog.LevelWarn
		}
		c.failing[name] = true
		c.log.Log(ctx, level, "version gate source failed", "source", name, "error", err)
		return nil
	}
	if c.failing[name] {
		c.log.Info("version gate source recovered", "source", name)
	}
	c.failing[name] = false
	return snap
}
