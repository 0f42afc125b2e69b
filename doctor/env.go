package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"cis490/internal/config"
	"cis490/internal/wire"
	"cis490/shipper/update"
)

// Env is everything the checks take from the host, so tests can run them
// against a scratch layout with fake commands (STYLE §8).
type Env struct {
	Now        func() time.Time
	PATH       string        // where external commands are looked up
	CmdTimeout time.Duration // limit for each external command
	User       string        // the user the doctor runs as, for fixes

	// LoadConfig resolves and loads the lab host config (see
	// config.ResolveLabHost).
	LoadConfig func(flagPath string) (config.LabHost, string, error)
	// Ping asks the receiver for /v1/ping with the host's credentials.
	Ping func(ctx context.Context, cfg config.LabHost) (wire.PingReply, error)
	// PingTimeout bounds the receiver check.
	PingTimeout time.Duration
	// FreeBytes returns the bytes available to unprivileged users on the
	// file system holding path.
	FreeBytes func(path string) (uint64, error)
	// UpdateState is the path of `cis490-shipper update`'s state file.
	UpdateState string
}

// Deadline bounds a whole doctor run: the receiver check and the external
// commands run concurrently under their own, shorter limits.
const Deadline = 11 * time.Second

// defaultEnv returns the real host's environment.
func defaultEnv() *Env {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return &Env{
		Now:         time.Now,
		PATH:        os.Getenv("PATH"),
		CmdTimeout:  3 * time.Second,
		User:        name,
		LoadConfig:  config.ResolveLabHost,
		Ping:        pingReceiver,
		PingTimeout: 8 * time.Second,
		FreeBytes:   statfsFree,
		UpdateState: filepath.Join(update.StateDir, update.StateFile),
	}
}

// statfsFree is FreeBytes by statfs(2).
func statfsFree(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// errNotFound reports that an external command is not installed.
var errNotFound = errors.New("not found")

// output is what an external command printed and how it ended.
type output struct {
	stdout, stderr string
	err            error // nil, *exec.ExitError, errNotFound, or a start/timeout error
	timedOut       bool
}

// lookPath finds name in e.PATH, like exec.LookPath but with the doctor's
// own PATH so tests need not change the process environment.
func (e *Env) lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(e.PATH) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNotFound
}

// command runs an external command under CmdTimeout with C-locale messages
// and no pager or colour. It never changes anything itself: the doctor only
// runs read-only queries.
func (e *Env) command(ctx context.Context, name string, args ...string) output {
	path, err := e.lookPath(name)
	if err != nil {
		return output{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, e.CmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 500 * time.Millisecond
	err = cmd.Run()
	return output{stdout: stdout.String(), stderr: stderr.String(), err: err, timedOut: ctx.Err() != nil}
}
