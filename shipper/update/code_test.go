package update

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"cis490/internal/config"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// codeRepos makes a bare origin with one commit on main, a clone of it (the
// host's checkout) and a second clone to push new commits from.
func codeRepos(t *testing.T) (origin, checkout, upstream string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	base := t.TempDir()
	origin, checkout, upstream = filepath.Join(base, "origin.git"), filepath.Join(base, "checkout"), filepath.Join(base, "upstream")
	git(t, base, "init", "--quiet", "--bare", "--initial-branch=main", origin)
	git(t, base, "clone", "--quiet", origin, upstream)
	os.WriteFile(filepath.Join(upstream, "run.py"), []byte("print(1)\n"), 0o644)
	git(t, upstream, "add", ".")
	git(t, upstream, "commit", "--quiet", "-m", "one")
	git(t, upstream, "push", "--quiet", "origin", "HEAD:main")
	git(t, base, "clone", "--quiet", origin, checkout)
	return origin, checkout, upstream
}

func push(t *testing.T, upstream, content string) string {
	t.Helper()
	os.WriteFile(filepath.Join(upstream, "run.py"), []byte(content), 0o644)
	git(t, upstream, "commit", "--quiet", "-am", content)
	git(t, upstream, "push", "--quiet", "origin", "HEAD:main")
	return git(t, upstream, "rev-parse", "HEAD")
}

func codeEngine(t *testing.T, repo string) (*Engine, string) {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "systemctl.log")
	fake := filepath.Join(t.TempDir(), "systemctl")
	os.WriteFile(fake, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755)
	return &Engine{
		Cfg:       config.Update{Enabled: true, CodeRepo: repo, CodeBranch: "main", CodeUser: me.Username, CodeRestartUnits: []string{"experiment.service"}},
		Systemctl: []string{fake},
	}, log
}

func TestFollowCode(t *testing.T) {
	ctx := context.Background()
	t.Run("fast-forwards and restarts the units", func(t *testing.T) {
		_, checkout, upstream := codeRepos(t)
		e, log := codeEngine(t, checkout)
		e.defaults()
		want := push(t, upstream, "print(2)\n")
		got := e.followCode(ctx)
		if got.Status != CodeUpdated || got.Head != want {
			t.Fatalf("got %+v, want updated to %s", got, want)
		}
		if head := git(t, checkout, "rev-parse", "HEAD"); head != want {
			t.Errorf("checkout at %s", head)
		}
		if b, _ := os.ReadFile(log); strings.TrimSpace(string(b)) != "restart experiment.service" {
			t.Errorf("systemctl calls %q", b)
		}
		if again := e.followCode(ctx); again.Status != CodeCurrent {
			t.Errorf("second run %+v, want current", again)
		}
	})
	t.Run("a dirty checkout is left alone", func(t *testing.T) {
		_, checkout, upstream := codeRepos(t)
		e, log := codeEngine(t, checkout)
		e.defaults()
		before := git(t, checkout, "rev-parse", "HEAD")
		push(t, upstream, "print(3)\n")
		os.WriteFile(filepath.Join(checkout, "run.py"), []byte("print('local edit')\n"), 0o644)
		got := e.followCode(ctx)
		if got.Status != CodeDirty || got.Head != before {
			t.Fatalf("got %+v", got)
		}
		if b, _ := os.ReadFile(filepath.Join(checkout, "run.py")); string(b) != "print('local edit')\n" {
			t.Error("the local edit was touched")
		}
		if _, err := os.Stat(log); err == nil {
			t.Error("units restarted")
		}
		if (Result{Status: StatusCurrent, Code: got}).ExitCode() != 3 {
			t.Error("a dirty checkout does not exit 3")
		}
	})
	t.Run("a diverged checkout is left alone", func(t *testing.T) {
		_, checkout, upstream := codeRepos(t)
		e, _ := codeEngine(t, checkout)
		e.defaults()
		push(t, upstream, "print(4)\n")
		os.WriteFile(filepath.Join(checkout, "local.txt"), []byte("x"), 0o644)
		git(t, checkout, "add", "local.txt")
		git(t, checkout, "commit", "--quiet", "-m", "local commit")
		before := git(t, checkout, "rev-parse", "HEAD")
		got := e.followCode(ctx)
		if got.Status != CodeDiverged || got.Head != before || git(t, checkout, "rev-parse", "HEAD") != before {
			t.Fatalf("got %+v", got)
		}
		if (Result{Status: StatusCurrent, Code: got}).ExitCode() != 3 {
			t.Error("a diverged checkout does not exit 3")
		}
	})
}
