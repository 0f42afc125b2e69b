package gatecache

import (
	"net/http"
	"time"
)

// Options only the tests use.

// WithHTTPClient sets the client used for Forgejo requests. Its own timeout,
// if any, applies in addition to the cache's.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithGit sets the git binary (default "git", looked up in PATH).
func WithGit(bin string) Option { return func(o *options) { o.gitBin = bin } }

// WithDefaultRepoPath replaces DefaultRepoPath, the checkout probed when
// repo_path is unset.
func WithDefaultRepoPath(p string) Option { return func(o *options) { o.defaultRepoPath = p } }

// WithClock sets the clock that decides when the list is stale and stamps
// each load.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }
