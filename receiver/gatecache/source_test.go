package gatecache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cis490/internal/gate"
)

func TestForgejoPaging(t *testing.T) {
	tests := []struct {
		name      string
		commits   int
		window    int
		pageCap   int
		wantPages []string
		wantLen   int
	}{
		{"window 100 takes two pages", 120, 100, 0, []string{"1", "2"}, 100},
		{"small window takes one page", 120, 10, 0, []string{"1"}, 10},
		{"short branch ends at an empty page", 60, 100, 0, []string{"1", "2", "3"}, 60},
		{"server cap under 50 pages further", 120, 100, 30, []string{"1", "2", "3", "4"}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits := fakeCommits(tt.commits)
			fake := newFakeForgejo(commits)
			fake.pageCap = tt.pageCap
			cfg := gateConfig(fake.start(t), "")
			cfg.Window = tt.window
			c, _ := mustCache(t, cfg)
			<-c.Refresh()

			if got := fake.pages(); !slices.Equal(got, tt.wantPages) {
				t.Errorf("pages = %v, want %v", got, tt.wantPages)
			}
			st := c.Stats()
			if st.Commits != tt.wantLen || st.Source != SourceForgejo {
				t.Errorf("stats = %+v, want %d commits from forgejo", st, tt.wantLen)
			}
			if v := c.Verdict(commits[tt.wantLen-1], true); v != gate.Pass {
				t.Errorf("oldest commit in window: %q, want pass", v)
			}
			if tt.wantLen < tt.commits {
				if v := c.Verdict(commits[tt.wantLen], true); v != gate.NotInWindow {
					t.Errorf("first commit past the window: %q, want %q", v, gate.NotInWindow)
				}
			}
		})
	}
}

func TestForgejoQuery(t *testing.T) {
	fake := newFakeForgejo(nil)
	fake.branches["release-2"] = fakeCommits(3)
	cfg := gateConfig(fake.start(t)+"/", "")
	cfg.Branch = "release-2"
	c, _ := mustCache(t, cfg)
	<-c.Refresh()

	reqs := fake.requests()
	if len(reqs) == 0 {
		t.Fatal("no request reached the server")
	}
	want := map[string]string{"sha": "release-2", "limit": "50", "page": "1",
		"stat": "false", "verification": "false", "files": "false"}
	for _, r := range reqs {
		if r.Path != "/api/v1/repos/lab/cis490/commits" {
			t.Errorf("path = %q", r.Path)
		}
		for k, v := range want {
			if k == "page" {
				continue
			}
			if got := r.Query.Get(k); got != v {
				t.Errorf("query %s = %q, want %q", k, got, v)
			}
		}
		if r.Auth != "" {
			t.Errorf("public repository got Authorization %q", r.Auth)
		}
	}
	if got := reqs[0].Query.Get("page"); got != want["page"] {
		t.Errorf("first page = %q, want 1", got)
	}
	if c.Stats().Commits != 3 {
		t.Errorf("commits = %d, want 3", c.Stats().Commits)
	}
}

func TestForgejoToken(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "forgejo.token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		token     string
		tokenFile string
		wantAuth  string
		wantLoad  bool
	}{
		{"inline token", "s3cret", "", "token s3cret", true},
		{"token file, newline trimmed", "", tokenFile, "token s3cret", true},
		{"token file wins over inline", "wrong", tokenFile, "token s3cret", true},
		{"no token is refused", "", "", "", false},
		{"unreadable token file sends nothing", "", filepath.Join(dir, "absent"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commits := fakeCommits(2)
			fake := newFakeForgejo(commits)
			fake.token = "s3cret"
			cfg := gateConfig(fake.start(t), "")
			cfg.AuthToken, cfg.AuthTokenFile = tt.token, tt.tokenFile
			c, _ := mustCache(t, cfg)
			<-c.Refresh()

			reqs := fake.requests()
			if tt.wantAuth != "" && (len(reqs) == 0 || reqs[0].Auth != tt.wantAuth) {
				t.Errorf("requests = %+v, want Authorization %q", reqs, tt.wantAuth)
			}
			if tt.wantAuth == "" && len(reqs) > 0 && reqs[0].Auth != "" {
				t.Errorf("Authorization = %q, want none", reqs[0].Auth)
			}
			want := gate.Unavailable
			if tt.wantLoad {
				want = gate.Pass
			}
			if v := c.Verdict(commits[1], true); v != want {
				t.Errorf("verdict = %q, want %q", v, want)
			}
		})
	}
}

func TestParseCommitsPage(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"only sha is read", `[{"sha":"ABC","commit":{"message":"x"},"files":null},{"sha":"def"}]`, []string{"abc", "def"}, false},
		{"empty page", `[]`, []string{}, false},
		{"not an array", `{"message":"not found"}`, nil, true},
		{"element without sha", `[{"id":"x"}]`, nil, true},
		{"truncated", `[{"sha":"a"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommitsPage([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseCommitsPage(f *testing.F) {
	f.Add([]byte(`[{"sha":"1111111111111111111111111111111111111111","commit":{}}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"sha":""}]`))
	f.Add([]byte(`{"sha":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		shas, err := parseCommitsPage(body)
		if err != nil {
			return
		}
		// Round trip: the list re-encoded as a page parses to itself.
		type elem struct {
			SHA string `json:"sha"`
		}
		page := make([]elem, len(shas))
		for i, s := range shas {
			if s == "" || s != strings.ToLower(s) {
				t.Fatalf("sha %q is empty or not lowercase", s)
			}
			page[i].SHA = s
		}
		raw, err := json.Marshal(page)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseCommitsPage(raw)
		if err != nil || !slices.Equal(again, shas) {
			t.Fatalf("round trip: %q -> %q, %v", shas, again, err)
		}
	})
}

func TestParseGitLog(t *testing.T) {
	got := parseGitLog([]byte("AAA\n\n bbb \r\nccc"))
	if want := []string{"aaa", "bbb", "ccc"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzParseGitLog(f *testing.F) {
	f.Add([]byte("1111111111111111111111111111111111111111\n2222222222222222222222222222222222222222\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n \n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		lines := parseGitLog(out)
		for _, l := range lines {
			if l == "" || strings.ContainsAny(l, "\n") || strings.TrimSpace(l) != l {
				t.Fatalf("bad line %q", l)
			}
		}
		if again := parseGitLog([]byte(strings.Join(lines, "\n"))); !slices.Equal(again, lines) {
			t.Fatalf("round trip: %q -> %q", lines, again)
		}
	})
}
