package update

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
)

// Code statuses (SPEC §15 JSON "code").
const (
	CodeOff      = "off"
	CodeCurrent  = "current"
	CodeUpdated  = "updated"
	CodeDirty    = "dirty"
	CodeDiverged = "diverged"
	CodeFailed   = "failed"
)

// CodeResult is the experiment checkout's outcome.
type CodeResult struct {
	Status string
	Head   string
	Err    string
}

// git runs git -C repo ARGS as code_user: through setpriv when this process
// is root and code_user is another user; as this process's user otherwise
// (--check needs no root).
func (e *Engine) git(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-C", e.Cfg.CodeRepo}, args...)
	name := "git"
	var env []string
	switch u := e.Cfg.CodeUser; {
	case u == "" || isCurrentUser(u):
	case os.Geteuid() != 0:
		// --check without root: look as this user; only reading commands
		// run this way, so another owner's checkout may be trusted.
		full = append([]string{"-c", "safe.directory=*"}, full...)
	default:
		// setpriv, not runuser: no PAM session, whose setrlimit the
		// unit's system call filter refuses.
		full = append([]string{"--reuid=" + u, "--regid=" + u, "--init-groups", "--", "git"}, full...)
		name = "setpriv"
		// git reads the user's own config, not root's.
		if pw, err := user.Lookup(u); err == nil {
			env = append(os.Environ(), "HOME="+pw.HomeDir)
		}
	}
	cmd := exec.CommandContext(ctx, name, full...)
	cmd.Env = env
	var buf capped
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	out := strings.TrimSpace(buf.String())
	if err != nil {
		return out, fmt.Errorf("git %s: %v: %s", args[0], err, lastLine(out))
	}
	return out, nil
}

func isCurrentUser(name string) bool {
	u, err := user.Current()
	return err == nil && u.Username == name
}

// dirty reports whether the checkout has local changes to tracked files
// (untracked files, such as experiment outputs, do not count).
func (e *Engine) dirty(ctx context.Context) (bool, error) {
	out, err := e.git(ctx, "status", "--porcelain", "--untracked-files=no")
	return out != "", err
}

// codeStatusOnly is --check's view of the checkout: local facts only, no
// fetch.
func (e *Engine) codeStatusOnly(ctx context.Context) CodeResult {
	if e.Cfg.CodeRepo == "" {
		return CodeResult{Status: CodeOff}
	}
	head, err := e.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return CodeResult{Status: CodeFailed, Err: err.Error()}
	}
	if d, err := e.dirty(ctx); err != nil {
		return CodeResult{Status: CodeFailed, Head: head, Err: err.Error()}
	} else if d {
		return CodeResult{Status: CodeDirty, Head: head}
	}
	return CodeResult{Status: CodeCurrent, Head: head}
}

// followCode fast-forwards the checkout to origin's code_branch and
// restarts code_restart_units when HEAD moved. A checkout with local
// changes, or whose HEAD is not an ancestor of origin's branch, is left
// alone and reported.
func (e *Engine) followCode(ctx context.Context) CodeResult {
	if e.Cfg.CodeRepo == "" {
		return CodeResult{Status: CodeOff}
	}
	head, err := e.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return CodeResult{Status: CodeFailed, Err: err.Error()}
	}
	fail := func(err error) CodeResult {
		e.Log.Warn("code checkout", "repo", e.Cfg.CodeRepo, "error", err)
		return CodeResult{Status: CodeFailed, Head: head, Err: err.Error()}
	}
	if d, err := e.dirty(ctx); err != nil {
		return fail(err)
	} else if d {
		e.Log.Warn("code checkout has local changes; left alone", "repo", e.Cfg.CodeRepo)
		return CodeResult{Status: CodeDirty, Head: head}
	}
	if _, err := e.git(ctx, "fetch", "--quiet", "origin", e.Cfg.CodeBranch); err != nil {
		return fail(err)
	}
	fetched, err := e.git(ctx, "rev-parse", "FETCH_HEAD")
	if err != nil {
		return fail(err)
	}
	if fetched == head {
		return CodeResult{Status: CodeCurrent, Head: head}
	}
	if _, err := e.git(ctx, "merge-base", "--is-ancestor", "HEAD", "FETCH_HEAD"); err != nil {
		e.Log.Warn("code checkout diverged from origin; left alone", "repo", e.Cfg.CodeRepo, "head", head, "origin", fetched)
		return CodeResult{Status: CodeDiverged, Head: head}
	}
	if _, err := e.git(ctx, "merge", "--ff-only", "--quiet", "FETCH_HEAD"); err != nil {
		return fail(err)
	}
	newHead, err := e.git(ctx, "rev-parse", "HEAD")
	if err != nil {
		return fail(err)
	}
	e.Log.Info("code checkout fast-forwarded", "repo", e.Cfg.CodeRepo, "from", head, "to", newHead)
	for _, u := range e.Cfg.CodeRestartUnits {
		args := append(e.Systemctl[1:len(e.Systemctl):len(e.Systemctl)], "restart", u)
		if out, err := e.output(ctx, e.Systemctl[0], args...); err != nil {
			return CodeResult{Status: CodeFailed, Head: newHead, Err: fmt.Sprintf("restart %s: %v: %s", u, err, lastLine(out))}
		}
	}
	return CodeResult{Status: CodeUpdated, Head: newHead}
}
