package gatecache

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// pageLimit is the page size asked of Forgejo (SPEC §13); the server may
// answer with fewer, so paging stops only at the window or an empty page.
const pageLimit = 50

// maxPageBytes bounds one page's body. With stat, verification and files off
// a page of 50 commits is tens of kilobytes.
const maxPageBytes = 8 << 20

// errNoCommits marks a source that answered but listed nothing.
var errNoCommits = errors.New("no commits")

// forgejo lists the newest commits of a branch through the Forgejo (or Gitea)
// API.
type forgejo struct {
	base      string // forgejo_url without trailing slash
	owner     string
	repo      string
	branch    string
	token     string
	tokenFile string
	client    *http.Client
}

// fetch returns up to window commits of the branch, newest first.
func (f *forgejo) fetch(ctx context.Context, window int) ([]string, error) {
	token, err := f.authToken()
	if err != nil {
		return nil, err
	}
	endpoint := fmt.Sprintf("%s/api/v1/repos/%s/%s/commits", f.base, url.PathEscape(f.owner), url.PathEscape(f.repo))
	seen := make(map[string]bool, window)
	var out []string
	// Each useful page adds at least one commit, so window+1 pages is a hard
	// bound even against a server that ignores limit.
	for page := 1; len(out) < window && page <= window+1; page++ {
		shas, err := f.page(ctx, endpoint, token, page)
		if err != nil {
			return nil, err
		}
		added := 0
		for _, s := range shas {
			if !seen[s] && len(out) < window {
				seen[s] = true
				out = append(out, s)
				added++
			}
		}
		if added == 0 {
			// An empty page ends the branch; a page of repeats means the
			// server ignores page=, and asking again would loop.
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("forgejo branch %s: %w", f.branch, errNoCommits)
	}
	return out, nil
}

func (f *forgejo) page(ctx context.Context, endpoint, token string, page int) ([]string, error) {
	q := url.Values{}
	q.Set("sha", f.branch)
	q.Set("limit", strconv.Itoa(pageLimit))
	q.Set("page", strconv.Itoa(page))
	q.Set("stat", "false")
	q.Set("verification", "false")
	q.Set("files", "false")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("forgejo request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("forgejo page %d: %w", page, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("forgejo page %d: HTTP %d (branch %s)", page, resp.StatusCode, f.branch)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("forgejo page %d: read: %w", page, err)
	}
	if len(body) > maxPageBytes {
		return nil, fmt.Errorf("forgejo page %d: body over %d bytes", page, maxPageBytes)
	}
	shas, err := parseCommitsPage(body)
	if err != nil {
		return nil, fmt.Errorf("forgejo page %d: %w", page, err)
	}
	return shas, nil
}

// authToken reads the token file on every fetch, so a rotated token is used
// without a restart; the file wins over an inline token.
func (f *forgejo) authToken() (string, error) {
	if f.tokenFile == "" {
		return f.token, nil
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("forgejo auth_token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// parseCommitsPage decodes a page of the commits API: a JSON array of
// objects, of which only "sha" is read.
func parseCommitsPage(body []byte) ([]string, error) {
	var page []struct {
		SHA string `json:"sha"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("decode commits: %w", err)
	}
	out := make([]string, 0, len(page))
	for i, c := range page {
		if c.SHA == "" {
			return nil, fmt.Errorf("decode commits: element %d has no sha", i)
		}
		out = append(out, strings.ToLower(c.SHA))
	}
	return out, nil
}

// gitRepo lists the newest commits of a branch with the git binary.
type gitRepo struct {
	bin    string
	path   string // work tree or .git directory
	branch string
}

// fetch runs git -C <path> log --format=%H -n <window> <branch>. The
// safe.directory setting lets the receiver's service user read a checkout
// owned by another user, which git refuses by default; "--" keeps a branch
// name from being read as a path.
func (g *gitRepo) fetch(ctx context.Context, window int) ([]string, error) {
	cmd := exec.CommandContext(ctx, g.bin,
		"-c", "safe.directory="+g.path,
		"-C", g.path,
		"log", "--format=%H", "-n", strconv.Itoa(window), g.branch, "--")
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg != "" {
			return nil, fmt.Errorf("git log in %s: %w: %s", g.path, err, msg)
		}
		return nil, fmt.Errorf("git log in %s: %w", g.path, err)
	}
	shas := parseGitLog(out)
	if len(shas) == 0 {
		return nil, fmt.Errorf("git log in %s branch %s: %w", g.path, g.branch, errNoCommits)
	}
	return shas, nil
}

// parseGitLog splits git log --format=%H output into its non-empty lines.
func parseGitLog(out []byte) []string {
	var shas []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			shas = append(shas, strings.ToLower(line))
		}
	}
	return shas
}
